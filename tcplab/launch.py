"""The `tcplab` entry point (bin/tcplab, the installed command, and `python -m tcplab`).

Ctrl-C or SIGTERM while the program is still loading ends it at once, quietly, with exit 130: the
handler is installed by the first tcplab code that runs (bin/tcplab imports this module first;
tcplab/__init__.py imports nothing; this module imports only what Python has already loaded), and
it leaves with os._exit instead of raising, so no KeyboardInterrupt can surface half-way through
an import, or be swallowed by one and let the command go on. Nothing is made while loading. Once
the command line is loaded, tcplab.cli.main turns the signals into a rollback of what it made.

Python's own start-up (site, a venv's .pth files) runs before any of this; a signal there is
Python's to report (bench/interrupt_bench.py measures each window).
"""

# no `from __future__` and no `import signal` (both real imports, a few ms each): _signal is the
# C module signal.py wraps, loaded by Python itself before any script runs
import _signal  # type: ignore[import-not-found]
import os

EXIT_INTERRUPTED = 130
_STARTING = b"error: interrupted while starting; nothing was made\n"


def _while_loading(signum: int, frame: object) -> None:
    try:
        os.write(2, _STARTING)
    finally:
        os._exit(EXIT_INTERRUPTED)


_signal.signal(_signal.SIGINT, _while_loading)
_signal.signal(_signal.SIGTERM, _while_loading)
# a parent may have blocked them (a test does, to hold a signal until this point): tcplab's
# rollback relies on them, so from here on they are delivered
_signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGINT, _signal.SIGTERM})


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _early_warm_start(args: list[str]) -> None:
    """`lab check` starts the student's program from a process that has loaded scapy
    (tcplab/sandbox/warm.py): started here, before the command line loads, it loads alongside."""
    at = args.index("lab") + 1 if "lab" in args else 0
    checking = at > 0 and args[at : at + 1] == ["check"] and not {"-h", "--help"} & set(args)
    if checking and os.geteuid() == 0:
        from tcplab.sandbox import warm

        warm.start_early()


def main() -> None:
    import signal
    import sys

    _early_warm_start(sys.argv[1:])
    from tcplab.cli import main as cli_main

    try:
        # from here on a signal unwinds the command, which removes what it made
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        cli_main()
    except KeyboardInterrupt:
        # it came before the command's own handling began (between the handler's installation
        # and tcplab.cli.main's try): nothing was made yet
        os.write(2, _STARTING)
        raise SystemExit(EXIT_INTERRUPTED) from None
    finally:
        # the command is over (done or rolled back): a signal now would only interrupt Python's
        # own shutdown and print a traceback
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
