"""Text tcplab did not write (files, a solution's output, the command line), made safe to show.

printable() turns control characters into visible escapes, so no escape sequence from a file or a
student reaches a terminal, a CSV or a report; shorten() caps what an error message echoes.
Pure (the standard library's re only), so every layer can use it.
"""

from __future__ import annotations

import re

# C0 and C1 control characters (ESC, CSI, BEL, backspace, carriage return...), DEL, and the
# bidirectional overrides and isolates that reorder what follows them
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_NEWLINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    return repr(m.group())[1:-1]  # '\x1b', '\u202e', '\t', '\n'


def printable(text: str, one_line: bool = False) -> str:
    """`text` with control characters as escapes (ESC -> \\x1b); tabs and newlines stay, unless
    `one_line`, when they become \\t and \\n too."""
    return (_CONTROL_OR_NEWLINE if one_line else _CONTROL).sub(_escape, text)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, the cut marked with '…'."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"
