"""The `tcplab` entry point: Ctrl-C or SIGTERM while the program is still loading ends it quietly
(nothing has been created yet); after that, tcplab.cli.main turns them into a rollback."""

from __future__ import annotations

import signal
import sys


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        from tcplab.cli import main as cli_main
    except KeyboardInterrupt:
        print("error: interrupted while starting; nothing was made", file=sys.stderr)
        sys.exit(130)
    try:
        cli_main()
    finally:
        # the command is over (done or rolled back): a signal now would only interrupt Python's
        # own shutdown and print a traceback
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
