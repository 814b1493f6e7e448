"""Text laid out for the terminal it is read in: its width, styled paragraphs, and handouts.

Every line tcplab prints fits the terminal: COLUMNS when set, else the terminal's own width. Piped
with no COLUMNS, lines are left whole (a pipe has no width; grep and scripts read whole lines, a
pager or editor wraps), except a handout, which is a page: its prose reflows to 80. A
paragraph wraps with a hanging indent (`para`), a handout's prose reflows while its code blocks,
tables and diagrams stay as written (`reflow`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tcplab.text import NO_BREAK, columns, keep, wrap

if TYPE_CHECKING:
    from rich.console import Console

MIN_WIDTH = 40  # narrower than this, tcplab's text stops being readable: lay out for 40


PAGE_WIDTH = 80  # a page piped with no COLUMNS (a handout) is laid out for this
UNLIMITED = 1 << 16  # piped with no COLUMNS: lines are not wrapped


def width() -> int:
    """Columns to fill: COLUMNS, else the terminal's width; piped with no COLUMNS, no limit."""
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return max(int(cols), MIN_WIDTH)
    if not sys.stdout.isatty():
        return UNLIMITED
    return max(shutil.get_terminal_size((PAGE_WIDTH, 24)).columns, MIN_WIDTH)


def page_width() -> int:
    """width() for text laid out as a page (a handout): PAGE_WIDTH where width() has no limit."""
    cols = width()
    return PAGE_WIDTH if cols == UNLIMITED else cols


Parts = str | list[tuple[str, str]]


def para(
    con: Console, parts: Parts, indent: str = "", hang: str | None = None, lead: str | None = None
) -> None:
    """Print `parts` ((text, rich style) pairs, or one unstyled text) wrapped to the console's width:
    the first line opens with `indent` (or the markup `lead`, as wide as `indent`), the others with
    `hang` (spaces; default as wide as `indent`). Texts are shown as given, never read as markup:
    pass text tcplab did not write through printable() first."""
    from rich.text import Text

    if isinstance(parts, str):
        parts = [(parts, "")]
    src = "".join(text for text, _ in parts)
    styles = [style for text, style in parts for _ in text]
    pos = 0
    for i, line in enumerate(wrap(src, con.width, indent, hang)):
        head = indent if i == 0 else line[: len(line) - len(line.lstrip(" "))]
        out = Text.from_markup(lead) if i == 0 and lead is not None else Text(head)
        for ch in line[len(head) :]:
            while pos < len(src) and src[pos] != ch and not (ch == " " and src[pos] == NO_BREAK):
                pos += 1  # a separator wrap() dropped at a break
            out.append(ch, styles[pos] if pos < len(src) else "")
            pos += 1
        con.print(out)


_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_ITEM = re.compile(r"^( *)([-*+]|\d{1,9}[.)])( +)(?=\S)")
_HEADING = re.compile(r"^ {0,3}#{1,6} ")
_QUOTE = re.compile(r"^ {0,3}> ?")
_CODE_SPAN = re.compile(r"`[^`]+`")


def _as_is(line: str, prev_blank: bool) -> bool:
    """A line shown exactly as written: a table row, indented code, an HTML block."""
    s = line.lstrip(" ")
    return s.startswith("|") or s.startswith("<") or (prev_blank and line.startswith("    "))


def _joined(lines: Iterable[str]) -> str:
    """A paragraph's source lines as one text: a space between them, except between two wide
    characters (a Chinese sentence broken across lines has no space there)."""
    out = ""
    for line in lines:
        if out and line and not (columns(out[-1]) == 2 and columns(line[0]) == 2):
            out += " "
        out += line
    return out


def reflow(markdown: str, cols: int) -> list[str]:
    """A Markdown handout as plain lines for `cols` columns: paragraphs, list items, quotes and
    headings wrapped (list items hang under their text); fenced and indented code, tables and
    HTML kept as written (a handout keeps them within 80 columns)."""
    out: list[str] = []
    block: list[str] = []  # the lines of the paragraph or item being gathered
    indent = hang = ""
    fenced = False

    def flush() -> None:
        if block:
            text = _CODE_SPAN.sub(lambda m: keep(m.group()), _joined(b.strip(" ") for b in block))
            out.extend(wrap(text, cols, indent, hang))
            block.clear()

    prev_blank = True
    for line in markdown.splitlines():
        quote = _QUOTE.match(line)
        if fenced or _FENCE.match(line):
            flush()
            out.append(line)
            fenced = fenced != bool(_FENCE.match(line))
        elif not line.strip():
            flush()
            out.append("")
        elif _as_is(line, prev_blank and not block):
            flush()
            out.append(line)
        elif _HEADING.match(line):
            flush()
            out.extend(wrap(line.strip(), cols))
        elif item := _ITEM.match(line):
            flush()
            indent = item.group()
            hang = " " * columns(indent)
            block.append(line[len(indent) :])
        elif quote and not (block and indent == quote.group()):
            flush()
            indent = hang = quote.group()
            block.append(line[len(indent) :])
        else:
            if not block:
                indent = hang = ""
            block.append(line[len(hang) :] if line.startswith(hang) else line.lstrip())
        if line.endswith("  ") and block:
            block[-1] = block[-1].rstrip() + "\n"  # a hard line break stays one
        prev_blank = not line.strip()
    flush()
    return out


def handout(markdown: str) -> None:
    """Print a handout: on a terminal as rich Markdown wrapped to its width, else as its Markdown
    source reflowed (`reflow`)."""
    if sys.stdout.isatty():
        from rich.markdown import Markdown

        from tcplab.cli.render import console

        console().print(Markdown(markdown), soft_wrap=False)
    else:
        sys.stdout.write("".join(line + "\n" for line in reflow(markdown, page_width())))
