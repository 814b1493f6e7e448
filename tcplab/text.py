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

`columns` and `wrap` lay such text (and tcplab's own) out for a terminal of a given width: display
columns counted as a terminal does (East Asian wide characters take two), and lines broken with a
hanging indent, never inside a number or a run the caller marked with `keep`.

Pure (the standard library's re and unicodedata only), so every layer can use it.
"""

from __future__ import annotations

import re
import unicodedata

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


# Characters of East Asian *ambiguous* width: one column in most terminals, two in a CJK terminal
# set to show them wide (then a ladder or a table drawn with them runs past its width). ASCII mode
# (TCPLAB_ASCII=1, see tcplab.cli) shows each as one ASCII character of the same width, so every
# layout stays as computed, and cuts text with "..." instead of "…".
_ASCII_SAME_WIDTH = {
    "…": "~", "→": ">", "←": "<", "↑": "^", "↓": "v", "▶": ">", "◀": "<", "►": ">", "◄": "<",
    "▲": "^", "▼": "v", "—": "-", "–": "-", "−": "-", "×": "x", "·": ".", "•": "*", "●": "*",
    "○": "o", "■": "#", "□": "#", "§": "S", "±": "~", "°": "o", "²": "2", "³": "3", "¹": "1",
    "“": '"', "”": '"', "‘": "'", "’": "'", "※": "*", "★": "*", "☆": "*",
}  # fmt: skip
ELLIPSIS = "…"


def _box(c: str) -> str:
    name = unicodedata.name(c, "")
    if "HORIZONTAL" in name and "VERTICAL" not in name:
        return "-"
    if "VERTICAL" in name and "HORIZONTAL" not in name:
        return "|"
    return "+"


ASCII_TABLE = str.maketrans(
    {**{chr(c): _box(chr(c)) for c in range(0x2500, 0x2580)}, **_ASCII_SAME_WIDTH}
)


def use_ascii(on: bool = True) -> None:
    """ASCII mode: text is cut with "..." (and the caller's output goes through `ascii_only`)."""
    global ELLIPSIS
    ELLIPSIS = "..." if on else "…"


def ascii_only(text: str) -> str:
    """`text` with tcplab's ambiguous-width characters as ASCII of the same width."""
    return text if text.isascii() else text.translate(ASCII_TABLE)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, the cut marked with '…' ("..." in ASCII mode)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ELLIPSIS), 0)] + ELLIPSIS


def clip(text: str, width: int) -> str:
    """At most `width` terminal columns of `text` (a wide character takes two), cut with '…'.
    `shorten` counts characters; this counts what a terminal shows (a CJK name in a table)."""
    if columns(text) <= width:
        return text
    out, used = "", 0
    for c in text:
        w = _char_columns(c)
        if used + w > width - len(ELLIPSIS):
            break
        out, used = out + c, used + w
    return out + ELLIPSIS


def pad(text: str, width: int) -> str:
    """`text` made one clean line, clipped and padded to exactly `width` columns."""
    cut = clip(line(text), width)
    return cut + " " * (width - columns(cut))


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


# Wrapping. A text's breakable places are its spaces, a zero-width space (U+200B, shown as
# nothing) and the place between two wide characters (Chinese and Japanese have no spaces); a
# no-break space (U+00A0, shown as a space) is not one, and neither is the space before a number
# ("seq 1000", "port 7788") or around an operator (a formula "ack = seq + 1" or "SYN_SENT →
# ESTABLISHED" stays on one line, and no line starts like a list item "+ 1"), unless the line
# cannot be filled otherwise.
NO_BREAK = "\u00a0"
MAY_BREAK = "\u200b"
_TOKENS = re.compile(f"[^ {NO_BREAK}{MAY_BREAK}]+| +|{NO_BREAK}+|{MAY_BREAK}")
_OPERATOR = re.compile(r"^[-+−=<>→*/×]+$")
_GLUED = re.compile(r"^(?:[(\[<+\-−§]?\d|[-+−=<>→*/×]+$|[.,;:!?)\]]+$)")
_MIN_TEXT = 20  # columns a continuation line keeps for text, however deep its indent


def _char_columns(c: str) -> int:
    if unicodedata.combining(c) or c in "\u200b\u200c\u200d\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


def columns(text: str) -> int:
    """How many terminal columns `text` takes: wide and fullwidth characters (中, Ａ) count two,
    combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_columns(c) for c in text)


def keep(text: str) -> str:
    """`text` as one unit for `wrap` (a segment "[S.] seq 1 ack 1"): broken only if it cannot fit
    a line of its own."""
    return text.replace(" ", NO_BREAK)


def _pieces(word: str) -> list[tuple[str, bool]]:
    """A word cut between wide characters: (piece, may break before it); punctuation, wide or
    narrow, stays on the line of the character before it, but an opening bracket or quote stays
    with the character after it."""
    out: list[tuple[str, bool]] = []
    for c in word:
        wide = _char_columns(c) == 2
        prev_wide = bool(out) and _char_columns(out[-1][0][-1]) == 2
        category = unicodedata.category(c)
        opens = category in ("Ps", "Pi")  # "（", "「": never ends a line, goes with what it opens
        after_opener = bool(out) and unicodedata.category(out[-1][0][-1]) in ("Ps", "Pi")
        punct = category.startswith("P") and not opens  # never opens a line: "。", ")" after 产生
        if out and (
            after_opener or (not wide and not prev_wide) or (punct and (wide or prev_wide))
        ):
            out[-1] = (out[-1][0] + c, out[-1][1])
        else:
            out.append((c, bool(out)))
    return out


_Atom = list[tuple[str, str]]  # (separator before it, text): the parts of one unbreakable run


def _atoms(line: str) -> list[tuple[str, _Atom]]:
    """A line as (breakable separator, atom) pairs."""
    atoms: list[tuple[str, _Atom]] = []
    sep, breakable, operator = "", True, False
    for tok in _TOKENS.findall(line):
        if tok[0] == " ":
            sep, breakable = tok, not operator
        elif tok == MAY_BREAK:
            sep, breakable = "", True
        elif tok[0] == NO_BREAK:
            sep, breakable = " " * len(tok), False
        else:
            if sep and breakable and _GLUED.match(tok):
                breakable = False
            operator = bool(_OPERATOR.match(tok))
            for piece, may in _pieces(tok):
                if (breakable or may) or not atoms:
                    atoms.append((sep, [("", piece)]))
                else:
                    atoms[-1][1].append((sep, piece))
                sep, breakable = "", False
    return atoms


class _Filler:
    """Greedy filling of lines: `first` opens the first line, `hang` each later one."""

    def __init__(self, width: int, first: str, hang: str) -> None:
        self.width, self.hang = width, hang
        self.lines: list[str] = []
        self.line, self.used, self.empty = first, columns(first), True

    def fits(self, sep: str, text: str) -> bool:
        return self.used + (0 if self.empty else columns(sep)) + columns(text) <= self.width

    def newline(self) -> None:
        self.lines.append(self.line.rstrip())
        self.line, self.used, self.empty = self.hang, columns(self.hang), True

    def put(self, sep: str, text: str) -> None:
        """`text` after `sep` on this line, else on the next; cut by columns when longer than a line."""
        if not self.fits(sep, text) and not self.empty:
            self.newline()
        if self.empty:
            sep = ""
        while not self.fits(sep, text):
            cut = self._cut(text)
            self.line += text[:cut]
            self.newline()
            text = text[cut:]
        self.line += sep + text
        self.used += columns(sep + text)
        self.empty = False

    def _cut(self, text: str) -> int:
        room, cut = max(self.width - self.used, 1), 0
        while cut < len(text) and columns(text[: cut + 1]) <= room:
            cut += 1
        return max(cut, 1)

    def atom(self, sep: str, parts: _Atom) -> None:
        text = "".join(s + t for s, t in parts)
        if self.fits(sep, text) or columns(self.hang + text) <= self.width:
            self.put(sep, text)
            return
        for i, (inner, part) in enumerate(parts):  # longer than a line: break it inside
            self.put(sep if i == 0 else inner, part)


def wrap(text: str, width: int, indent: str = "", hang: str | None = None) -> list[str]:
    """`text` as lines of at most `width` columns where it can be: the first starts with `indent`,
    the others with `hang` (default: spaces as wide as `indent`, so the text lines up under
    itself). Its own newlines stay; trailing spaces go."""
    if hang is None:
        hang = " " * columns(indent)
    if columns(hang) > width - _MIN_TEXT:
        hang = " " * max(width - _MIN_TEXT, 0)
    filler = _Filler(width, indent, hang)
    for i, line in enumerate(text.split("\n")):
        if i:
            filler.newline()
        for sep, parts in _atoms(line):
            filler.atom(sep, parts)
    filler.newline()
    return filler.lines
