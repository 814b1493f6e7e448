"""The ladder drawn for a terminal: two lanes (you | kernel), arrows across, each side's states.

A line, left to right: the time margin (ms since the first segment), your states (against your
lane's bar), the band between the two bars with the arrows and their text, the kernel's states
(against its bar). The band takes what the state columns leave of the width (up to what its
longest segment needs); a segment's fields are never broken, a long one continues inside the band.
Too narrow for that, states are written in `ss`'s spelling (SYN-RECV), and narrower still, as
lines of their own inside the band. Everything a report carries is drawn from an
engine.ladder.Ladder, never re-derived here.

Pure text (rich Text objects, no console): render.ladder prints them, tests measure them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.text import Text

from tcplab.engine.ladder import Arrow, Change, Ladder, Lane, Step, Way
from tcplab.engine.report import How, Side
from tcplab.i18n import _
from tcplab.model.state import State
from tcplab.text import MAY_BREAK, NO_BREAK, columns, keep, printable, wrap

YOU, KERNEL = "yellow", "cyan"
BAR = "│"
MIN_BAND = 26  # narrower than this, the state columns give up their room
BAND_ROOM = 6  # an arrow's head and shaft beside its text
PROVED_MARK = "*"  # a kernel state the model proves from the capture (the socket table missed it)
_OPTIONS = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Layout:
    """Widths of the columns; `short`: states in ss's spelling; `inline`: states inside the band."""

    time: int
    left: int
    band: int
    right: int
    short: bool = False
    inline: bool = False

    @property
    def total(self) -> int:
        return self.time + 1 + self.left + 3 + self.band + 3 + self.right


def segment_text(notation: str) -> str:
    """A segment's text for wrapping: each field ("seq +1") never broken, the options' list may
    break after a comma."""
    return _OPTIONS.sub(lambda m: keep(m.group()).replace(",", "," + MAY_BREAK), notation)


def _state(name: str, short: bool) -> str:
    if not short:
        return name
    try:
        return State(name).ss
    except ValueError:
        return name


def _cell(change: Change, last: str | None, short: bool) -> list[str]:
    """A state change as its column shows it: the new state, with where from when that is not
    the state the column showed last."""
    after = _state(change.after, short)
    if change.side is Side.KERNEL and change.how is How.MODEL:
        after += PROVED_MARK
    if change.before in (change.after, last):
        return [after]
    return [f"{_state(change.before, short)} →", after]


def _cells(ladder: Ladder, short: bool) -> list[tuple[list[str], list[str]]]:
    """Each step's (your column, the kernel's column), the start first."""
    last: dict[tuple[Side, str], str] = {}
    out: list[tuple[list[str], list[str]]] = []
    start = {c.side: [_state(c.after, short)] for c in ladder.start}
    for c in ladder.start:
        last[(c.side, "")] = c.after
    out.append((start.get(Side.CRAFTING, []), start.get(Side.KERNEL, [])))
    for step in ladder.steps:
        pair: list[list[str]] = []
        for side in (Side.CRAFTING, Side.KERNEL):
            change = step.change(side)
            if change is None:
                pair.append([])
                continue
            seen = last.get((side, step.conn), last.get((side, "")))
            pair.append(_cell(change, seen, short))
            last[(side, step.conn)] = change.after
        out.append((pair[0], pair[1]))
    return out


def _band_need(ladder: Ladder) -> int:
    need = MIN_BAND
    for step in ladder.steps:
        if step.arrow is not None:
            text = " ".join((step.conn, step.arrow.text, *step.arrow.marks))
            need = max(need, columns(text) + 2 * len(step.arrow.marks) + BAND_ROOM)
    return need


def lanes(ladder: Ladder) -> tuple[Lane, Lane]:
    return ladder.you, ladder.kernel


def layout(ladder: Ladder, width: int) -> Layout:
    """The widest columns that fit `width`."""
    times = [f"{s.time * 1000:.3f}" for s in ladder.steps if s.time is not None]
    tw = max([2, *(len(t) for t in times)])
    need = _band_need(ladder)
    header = sum(columns(" ".join(x for x in (n.title, n.address) if x)) for n in lanes(ladder))
    for short in (False, True):
        cells = _cells(ladder, short)
        left = max([0, *(columns(x) for c in cells for x in c[0])])
        right = max([0, *(columns(x) for c in cells for x in c[1])])
        room = width - (tw + 1 + left + 6 + right)
        if room >= MIN_BAND:  # wide enough for the segments, and the header on one line
            band = max(need, header + 2 - left - right - 6)
            if any(s.text for s in ladder.steps):  # a note or a step's result: all the room
                band = room
            return Layout(tw, left, min(room, band), right, short)
    return Layout(tw, 0, max(width - tw - 7, 1), 0, False, True)


def _styled(parts: list[tuple[str, str]], width: int, first: int, hang: int) -> list[Text]:
    """`parts` ((text, style) pairs) wrapped to `width` columns, the first line `first` columns
    shorter, the others `hang`; each line without its indent."""
    src = "".join(text for text, _ in parts)
    styles = [style for text, style in parts for _ in text]
    out: list[Text] = []
    pos = 0
    for i, line in enumerate(wrap(src, width, " " * first, " " * hang)):
        body = line[first if i == 0 else hang :] if line.strip() else ""
        text = Text()
        for ch in body:
            while pos < len(src) and src[pos] != ch and not (ch == " " and src[pos] == NO_BREAK):
                pos += 1  # a separator wrap() dropped at a break
            text.append(ch, styles[pos] if pos < len(src) else "")
            pos += 1
        out.append(text)
    return out


def _pad(text: Text, width: int, right: bool = False) -> Text:
    gap = " " * max(width - text.cell_len, 0)
    return Text.assemble(gap, text) if right else Text.assemble(text, gap)


def _arrow(step: Step, arrow: Arrow, band: int) -> list[Text]:
    """An arrow across the band with its segment's text; a kernel segment's cause, when it is an
    application call or a timer, dim under it."""
    color = KERNEL if arrow.from_kernel else YOU
    parts = [(keep(printable(step.conn)) + " ", "bold")] if step.conn else []
    parts.append((segment_text(printable(arrow.text)), color))
    parts += [(" " + keep(f"({printable(m)})"), "red") for m in arrow.marks]
    lines = _styled(parts, band, BAND_ROOM - 2, 2)
    head = lines[0]
    shaft = "─" * max(band - head.cell_len - 2, 1)
    if arrow.way is Way.TO_KERNEL:
        out = [Text.assemble(head, " ", (shaft + "▶", color))]
        out += [_pad(Text.assemble("  ", line), band) for line in lines[1:]]
    else:
        out = [Text.assemble(("◀" + shaft, color), " ", head)]
        out += [_pad(line, band, right=True) for line in lines[1:]]
    if arrow.from_kernel and arrow.cause and not arrow.by_you:  # an application call, a timer
        cause = _styled([(f"({printable(arrow.cause)})", "dim")], band, 0, 0)
        out += [_pad(line, band, right=True) for line in cause]
    return [_pad(line, band) for line in out]


def _text(step: Step, band: int) -> list[Text]:
    """A note or a scenario step's expected vs observed, wrapped inside the band."""
    parts = []
    if step.ok is not None:
        parts.append(("✓ " if step.ok else "✗ ", "green" if step.ok else "red"))
    parts.append((printable(step.text), "" if step.ok is not None else "dim"))
    wrapped = _styled(parts, band, 0, 2)
    return [
        _pad(line if i == 0 else Text.assemble("  ", line), band) for i, line in enumerate(wrapped)
    ]


def _inline(cells: tuple[list[str], list[str]], band: int) -> list[Text]:
    """States as lines inside the band (a narrow terminal): yours on the left, the kernel's right."""
    out: list[Text] = []
    if cells[0]:
        out += [_pad(x, band) for x in _styled([(" ".join(cells[0]), YOU)], band, 0, 2)]
    if cells[1]:
        out += [_pad(x, band, True) for x in _styled([(" ".join(cells[1]), KERNEL)], band, 0, 2)]
    return out


def _band(step: Step, band: int) -> list[Text]:
    if step.arrow is not None:
        return _arrow(step, step.arrow, band)
    if step.text:
        return _text(step, band)
    label = Text(printable(step.conn), "dim") if step.conn else Text()
    return [_pad(label, band)]


def _header(ladder: Ladder, release: str, lay: Layout) -> list[Text]:
    """Both sides' names and addresses over their lanes, the kernel's Linux release under its."""
    you = printable(" ".join(x for x in (ladder.you.title, ladder.you.address) if x))
    kernel = printable(" ".join(x for x in (ladder.kernel.title, ladder.kernel.address) if x))
    linux = printable(f"Linux {release}") if release else ""
    lead = " " * (lay.time + 1)
    room = lay.total - len(lead)
    left = Text(you, f"bold {YOU}")
    right = Text(kernel, f"bold {KERNEL}")
    if left.cell_len + 2 + right.cell_len <= room:
        lines = [Text.assemble(lead, _pad(left, room - right.cell_len), right)]
    else:
        lines = [Text.assemble(lead, left), Text.assemble(lead, _pad(right, room, True))]
    if linux:
        lines.append(Text.assemble(lead, _pad(Text(linux, "dim"), room, True)))
    return [_fit(line) for line in lines]


def _fit(line: Text) -> Text:
    line.rstrip()
    return line


def lines(ladder: Ladder, release: str, width: int, head: bool = True) -> list[Text]:
    """The ladder as lines of at most `width` columns: the header, both sides' start, each step,
    and (when a state is marked) what the mark means; without `head`, its steps' only (no
    header, no first states: `tcplab watch` piped prints a ladder in pieces)."""
    lay = layout(ladder, width)
    cells = _cells(ladder, lay.short)
    out = _header(ladder, release, lay) + _row(lay, "ms", *cells[0], []) if head else []
    for step, (mine, theirs) in zip(ladder.steps, cells[1:], strict=True):
        t = "" if step.time is None else f"{step.time * 1000:.3f}"
        out += _row(lay, t, mine, theirs, _band(step, lay.band))
    if any(PROVED_MARK in x for c in cells for x in c[1]):
        legend = _("{mark} proved by the capture (its socket table missed it)").format(
            mark=PROVED_MARK
        )
        lead = " " * (lay.time + 1)
        wrapped = _styled([(legend, "dim")], lay.total - len(lead), 0, 2)
        out += [Text.assemble(lead, x) for x in wrapped]
    return [_fit(line) for line in out]


def _row(lay: Layout, t: str, left: list[str], right: list[str], band: list[Text]) -> list[Text]:
    """One step's lines: time, your state, the band, the kernel's state (narrow: states inside
    the band, under what it shows)."""
    if lay.inline and (left or right):
        band = [b for b in band if b.plain.strip()] + _inline((left, right), lay.band)
        left, right = [], []
    height = max(len(left), len(band), len(right), 1)
    out = []
    for i in range(height):
        mine = Text(left[i] if i < len(left) else "", YOU)
        theirs = Text(right[i] if i < len(right) else "", KERNEL)
        middle = band[i] if i < len(band) else _pad(Text(), lay.band)
        time = Text((t if i == 0 else "").rjust(lay.time), "dim")
        out.append(
            Text.assemble(
                time,
                " ",
                _pad(mine, lay.left, right=True),
                (f" {BAR} ", "dim"),
                middle,
                (f" {BAR} ", "dim"),
                theirs,
            )
        )
    return out
