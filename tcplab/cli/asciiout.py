"""ASCII mode: for terminals that show East Asian ambiguous-width characters (─ │ → … §) two
columns wide, as CJK terminals may. TCPLAB_ASCII=1 (or --ascii anywhere on the command line) makes
everything tcplab writes to the terminal plain ASCII where it drew with such characters: each
becomes one ASCII character of the same width (tcplab.text.ascii_only), so ladders and tables keep
the layout computed for them; Chinese text (always two columns) stays as it is."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from tcplab import text

ENV = "TCPLAB_ASCII"


class AsciiWriter:
    """A text stream that writes through `ascii_only` to the stream it wraps."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, s: str) -> int:
        self._stream.write(text.ascii_only(s))
        return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, flush, encoding, buffer...
        return getattr(self._stream, name)


def wanted(args: list[str]) -> tuple[bool, list[str]]:
    """Whether ASCII mode is asked for (--ascii before `--`, or TCPLAB_ASCII set and not 0), and
    the arguments without --ascii."""
    end = args.index("--") if "--" in args else len(args)
    head, tail = args[:end], args[end:]
    flag = "--ascii" in head
    env = os.environ.get(ENV, "").strip().lower() not in ("", "0", "no", "false")
    return flag or env, [a for a in head if a != "--ascii"] + tail


def install() -> None:
    """From now on this process writes ASCII to stdout and stderr, and cuts text with "..."."""
    text.use_ascii()
    if not isinstance(sys.stdout, AsciiWriter):
        sys.stdout = AsciiWriter(sys.stdout)
    if not isinstance(sys.stderr, AsciiWriter):
        sys.stderr = AsciiWriter(sys.stderr)
