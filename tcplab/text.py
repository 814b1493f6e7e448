"""Text tcplab did not write (files, a student's output, the command line), made safe to show.

Such text is shown in a terminal, a spreadsheet, JSON, XML, Markdown and HTML, and each of those
would act on some characters: C0 and C1 control characters (ESC starts every terminal escape
sequence; U+009B is an 8-bit CSI), DEL, bidirectional overrides and isolates (U+202E turns text
around), zero-width characters, byte order marks, lone surrogates, and the Unicode line and
paragraph separators. Two ways to make it safe, for two audiences:

- `printable` *escapes* them (ESC -> \\x1b): for echoing a user's own input back in an error, where
  seeing what was typed helps;
- `block`, `line` and `cell` *drop* them: for a student's output shown to an instructor (a
  terminal progress line, a CSV cell, a report), where only what a person reads should remain.

Pure (the standard library's re only), so every layer can use it.
"""

from __future__ import annotations

import re

_UNSAFE = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but \t \n, DEL, C1
    "\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"  # bidi marks and overrides, zero-width
    "\ufeff\ufff9-\ufffb\ud800-\udfff"  # BOM, interlinear annotations, lone surrogates
    "\u2028\u2029"  # line and paragraph separators
)
_UNSAFE_RE = re.compile(f"[{_UNSAFE}]")
_UNSAFE_OR_NEWLINE = re.compile(f"[\t\n{_UNSAFE}]")
_SEPARATORS = re.compile("[\u2028\u2029\x85]")
_FORMULA_START = ("=", "+", "-", "@")  # what a spreadsheet would run as a formula (OWASP)


def _escape(m: re.Match[str]) -> str:
    return m.group().encode("unicode_escape", "backslashreplace").decode("ascii")


def printable(text: str, one_line: bool = False) -> str:
    """`text` with unsafe characters as escapes (ESC -> \\x1b); tabs and newlines stay, unless
    `one_line`, when they become \\t and \\n too."""
    return (_UNSAFE_OR_NEWLINE if one_line else _UNSAFE_RE).sub(_escape, text)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, the cut marked with '…'."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def block(text: object) -> str:
    """Multi-line text without unsafe characters: newlines (\\r\\n and \\r become \\n) and tabs
    stay, everything a terminal or renderer would act on goes."""
    body = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE_RE.sub("", _SEPARATORS.sub("\n", body))


def line(text: object, limit: int | None = None) -> str:
    """One line of plain text: `block`, with every run of whitespace made one space; cut to
    `limit` characters (with '…') when given."""
    flat = " ".join(block(text).split())
    return flat if limit is None else shorten(flat, limit)


def cell(text: object) -> str:
    """A spreadsheet cell that is shown as text: one line, never read as a formula."""
    flat = line(text)
    return "'" + flat if flat.startswith(_FORMULA_START) else flat
