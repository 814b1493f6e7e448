"""Student text is untrusted. What a solution prints (and any message quoting it) is shown in a
terminal, a spreadsheet, JSON, XML, Markdown and HTML; each of those would act on some characters.
These functions keep what a person reads and drop what a terminal or a renderer would obey: C0 and
C1 control characters (ESC starts every terminal escape sequence; U+009B is an 8-bit CSI), DEL,
bidirectional overrides and isolates (U+202E turns text around), zero-width characters, byte order
marks, lone surrogates and the Unicode line and paragraph separators.

`line` is for one-line places (a terminal progress line, a CSV cell, a message); `block` keeps
newlines and tabs, for multi-line excerpts shown in a code block or a <pre>.
"""

from __future__ import annotations

import re

_UNSAFE = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but \t \n, DEL, C1
    "\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"  # bidi marks and overrides, zero-width
    "\ufeff\ufff9-\ufffb\ud800-\udfff"  # BOM, interlinear annotations, lone surrogates
)
_UNSAFE_IN_BLOCK = re.compile(f"[{_UNSAFE}]")
_SEPARATORS = re.compile("[\u2028\u2029\x85]")
_FORMULA_START = ("=", "+", "-", "@")  # what a spreadsheet would run as a formula (OWASP)


def block(text: object) -> str:
    """Multi-line text without control characters: newlines (\\r\\n and \\r become \\n) and tabs
    stay, everything a terminal or renderer would act on goes."""
    body = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE_IN_BLOCK.sub("", _SEPARATORS.sub("\n", body))


def line(text: object, limit: int | None = None) -> str:
    """One line of plain text: `block`, with every run of whitespace made one space; cut to
    `limit` characters (with '…') when given."""
    flat = " ".join(block(text).split())
    if limit is not None and len(flat) > limit:
        return flat[: max(0, limit - 1)] + "…"
    return flat


def cell(text: object) -> str:
    """A spreadsheet cell that is shown as text: one line, never read as a formula."""
    flat = line(text)
    return "'" + flat if flat.startswith(_FORMULA_START) else flat
