"""The ladder as an SVG sequence diagram: you | kernel, arrows across, each side's states beside.

Laid out top to bottom, one band per Step of the engine's Ladder, in its order (never re-derived
from a Report): the time (and the connection, when there are several) in the left margin; an
arrow slanted slightly down from the sender's lifeline to the receiver's, the segment's text above
it (flags bold) and below it what caused a kernel segment and what is wrong with it; a state
change as a box on its side, beside the lifeline (solid: seen in the socket table; dashed: the
model's word); a note or a scenario step as a grey box across both lifelines. Every band has a
<title> with the full text, so a long field cut with "…" can still be read as a tooltip.

    margin | you's states | you ─────── segment ───────▶ kernel | kernel's states
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tcplab.draw.svg import (
    CHAR_W,
    SANS_W,
    Drawing,
    clip,
    esc,
    num,
    root,
    seconds,
    text_words,
    wrap,
)
from tcplab.engine.ladder import Arrow, Change, Ladder, Lane, Step, Way
from tcplab.engine.report import How, Side
from tcplab.i18n import N_, _
from tcplab.text import columns

MARGIN = 112  # time and connection label
BOX_W = 108  # a state box
YOU_X = MARGIN + BOX_W + 14
SPAN = 470  # between the lifelines
KERNEL_X = YOU_X + SPAN
WIDTH = KERNEL_X + BOX_W + 26
LINE = 15  # a line of text
SLANT = 8  # how far an arrow falls from its start to its head
HEAD = 9  # arrow head length
SEG_CHARS = int((SPAN - 24) / CHAR_W)  # one line of a segment's text
NOTE_CHARS = int((SPAN + 2 * BOX_W) / SANS_W)
NOTE_LINES = 4
SEG_LINES = 3
HEAD_ARROWS, TAIL_ARROWS = 110, 50  # a longer ladder is drawn as its first and last segments
MAX_STEPS = 600  # steps drawn at most (notes and states between the segments too)
STATE_CHARS = 14
SMALL_W = SANS_W * 10.5 / 12  # a column of the legend's 10.5 px text
NOT_PREDICTED = N_("not what the model predicted")
YOU_TO_KERNEL, KERNEL_TO_YOU = N_("you → kernel"), N_("kernel → you")


@dataclass
class _Canvas:
    """The diagram's parts as they are laid out, and how far down it has come."""

    y: float
    parts: list[str] = field(default_factory=list)

    def add(self, svg: str) -> None:
        self.parts.append(svg)


def _role(side: Side) -> str:
    return "you" if side is Side.CRAFTING else "kernel"


def _text(x: float, y: float, body: str, cls: str = "", anchor: str = "start") -> str:
    """A <text>. The classes tl-s, tl-u, tl-w, tl-t, tl-k, tl-b anchor their text themselves
    (CSS): a long ladder's hundreds of rows stay small."""
    klass = f' class="{cls}"' if cls else ""
    a = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return f'<text x="{num(x)}" y="{num(y)}"{klass}{a}>{body}</text>'


def _header(c: _Canvas, ladder: Ladder) -> None:
    for lane, x, cls in ((ladder.you, YOU_X, "tl-you"), (ladder.kernel, KERNEL_X, "tl-kernel")):
        c.add(_text(x, c.y + 16, esc(clip(lane.title, 28)), "tl-title", "middle"))
        if lane.address:
            c.add(_text(x, c.y + 32, esc(clip(lane.address, 40)), "tl-dim tl-mono", "middle"))
        c.add(f'<rect class="{cls}" x="{num(x - 40)}" y="{num(c.y + 38)}" width="80" height="4"/>')
    c.add(_text(MARGIN - 10, c.y + 32, esc(_("time")), "tl-dim tl-small", "end"))
    c.y += 52


def _box(c: _Canvas, change: Change, y: float, conn: str) -> None:
    """A state box beside its side's lifeline, centred on `y`."""
    role = _role(change.side)
    x = YOU_X - 8 - BOX_W if change.side is Side.CRAFTING else KERNEL_X + 8
    how = _("the model's") if change.how is How.MODEL else _("seen in the socket table")
    who = _("you") if change.side is Side.CRAFTING else _("kernel")
    tip = f"{who}: {change.text} ({how})" + (f", {change.note}" if change.note else "")
    tip += f" [{conn}]" if conn and conn.lstrip(":").split("⇄")[0] not in change.note else ""
    model = " tl-model" if change.how is How.MODEL else ""
    c.add(
        f'<g class="tl-state"><title>{esc(tip)}</title>'
        f'<rect class="tl-box tl-{role}{model}" x="{num(x)}" y="{num(y - 10)}" '
        f'width="{BOX_W}" height="20" rx="5"/>'
        + _text(x + BOX_W / 2, y + 4, esc(clip(change.after, STATE_CHARS)), "tl-b")
        + "</g>"
    )


def _margin(c: _Canvas, step: Step, y: float, several: bool) -> None:
    if step.time is not None:
        c.add(_text(MARGIN - 10, y + 4, esc(seconds(step.time)), "tl-t"))
    if several and step.conn:
        label = esc(clip(step.conn, 15))
        c.add(_text(MARGIN - 10, y + 17, label, "tl-k"))


def _head(x: float, y: float, angle: float, cls: str) -> str:
    """A filled arrow head with its tip at (x, y), pointing along `angle`."""
    (ax, ay), (bx, by) = (
        (HEAD * math.cos(a), HEAD * math.sin(a)) for a in (angle + 2.72, angle + 3.56)
    )
    return f'<path class="{cls}" d="M{num(x)} {num(y)}l{num(ax)} {num(ay)} {num(bx - ax)} {num(by - ay)}z"/>'


def _segment_lines(arrow: Arrow) -> list[str]:
    """The segment's text in lines, the flags first (bold)."""
    flags = clip(arrow.flags or _("(none)"), SEG_CHARS)
    lines = wrap([flags, *arrow.fields], SEG_CHARS, SEG_LINES)
    rest = lines[0][len(flags) :].strip()
    first = f'<tspan class="tl-flags">{esc(flags)}</tspan>' + (f" {esc(rest)}" if rest else "")
    return [first, *(esc(line) for line in lines[1:])]


def _under(arrow: Arrow) -> list[tuple[str, str]]:
    """The lines below an arrow: what caused it, what is wrong with it."""
    out: list[tuple[str, str]] = []
    if arrow.cause:
        out.append((f"↳ {arrow.cause}", "tl-u"))
    wrong = list(arrow.marks)
    if arrow.agrees is False:
        wrong.append(_(NOT_PREDICTED))
    if wrong:
        out.append(("⚠ " + "; ".join(wrong), "tl-w"))
    return [(esc(clip(t, NOTE_CHARS - 6)), cls) for t, cls in out]


def _tip(step: Step, arrow: Arrow) -> str:
    way = _(YOU_TO_KERNEL) if arrow.way is Way.TO_KERNEL else _(KERNEL_TO_YOU)
    parts = [f"{way}: {arrow.text}"]
    if step.conn:
        parts.insert(0, f"[{step.conn}]")
    parts += [f"⚠ {m}" for m in arrow.marks]  # (the cause is drawn in full below the arrow)
    if arrow.agrees is False:
        parts.append("⚠ " + _(NOT_PREDICTED))
    return " · ".join(parts)


def _arrow_step(c: _Canvas, step: Step, arrow: Arrow, several: bool) -> None:
    lines = _segment_lines(arrow)
    to_kernel = arrow.way is Way.TO_KERNEL
    cls = "tl-you" if to_kernel else "tl-kernel"
    x0, x1 = (YOU_X, KERNEL_X) if to_kernel else (KERNEL_X, YOU_X)
    top = c.y + 4
    c.add(f'<g class="tl-seg"><title>{esc(_tip(step, arrow))}</title>')
    for i, body in enumerate(lines):
        y = top + LINE * (i + 1) - 3
        c.add(_text((YOU_X + KERNEL_X) / 2, y, body, "tl-s"))
    y0 = top + LINE * len(lines) + 4
    y1 = y0 + SLANT
    angle = math.atan2(y1 - y0, x1 - x0)
    tip_x = x1 - 2 * math.cos(angle)
    c.add(
        f'<line class="{cls}" x1="{num(x0)}" y1="{num(y0)}" '
        f'x2="{num(tip_x - HEAD * 0.8 * math.cos(angle))}" y2="{num(y1)}"/>'
    )
    c.add(_head(tip_x, y1, angle, cls))
    below = y1 + 4
    for body, kind in _under(arrow):
        below += LINE - 2
        c.add(_text((YOU_X + KERNEL_X) / 2, below, body, kind))
    c.add("</g>")
    _margin(c, step, y0, several)
    for change in step.changes:  # beside the arrow's end on that side
        at_kernel = change.side is Side.KERNEL
        _box(c, change, y1 if at_kernel == to_kernel else y0, step.conn)
    c.y = max(below, y0 + (28 if several and step.conn else 14)) + 8


def _text_step(c: _Canvas, step: Step, several: bool) -> None:
    mark, cls = {True: ("✓ ", "tl-pass"), False: ("✗ ", "tl-fail"), None: ("", "")}[step.ok]
    lines = wrap(text_words(mark + step.text), NOTE_CHARS, NOTE_LINES) or [""]
    x, w = YOU_X - BOX_W, SPAN + 2 * BOX_W
    h = LINE * len(lines) + 8
    c.add(f'<g class="tl-text"><title>{esc(mark + step.text)}</title>')
    c.add(
        f'<rect class="tl-note" x="{num(x)}" y="{num(c.y + 4)}" width="{w}" height="{h}" rx="3"/>'
    )
    for i, line in enumerate(lines):
        c.add(_text(x + 8, c.y + 4 + LINE * (i + 1), esc(line), cls))
    c.add("</g>")
    _margin(c, step, c.y + 4 + LINE - 4, several)
    c.y += h + 10


def _changes_step(c: _Canvas, step: Step, several: bool) -> None:
    y = c.y + 14
    _margin(c, step, y, several)
    for change in step.changes:
        _box(c, change, y, step.conn)
    c.y += 30 if several and step.conn else 28


def _start(c: _Canvas, ladder: Ladder) -> None:
    if not ladder.start:
        return
    for change in ladder.start:
        _box(c, change, c.y + 14, "")
    c.y += 30


def _legend(c: _Canvas) -> None:
    y = c.y + 16
    x = MARGIN - 90
    c.add('<g class="tl-legend">')
    c.add(f'<line class="tl-you" x1="{x}" y1="{y - 4}" x2="{x + 30}" y2="{y - 4}"/>')
    label = _(YOU_TO_KERNEL)
    c.add(_text(x + 36, y, esc(label), "tl-small"))
    x += _advance(130, 36, label)
    c.add(f'<line class="tl-kernel" x1="{x}" y1="{y - 4}" x2="{x + 30}" y2="{y - 4}"/>')
    label = _(KERNEL_TO_YOU)
    c.add(_text(x + 36, y, esc(label), "tl-small"))
    x += _advance(130, 36, label)
    c.add(f'<rect class="tl-box" x="{x}" y="{y - 12}" width="24" height="14" rx="4" '
          'style="stroke: #8c8c8c"/>')  # fmt: skip
    label = _("state seen")
    c.add(_text(x + 30, y, esc(label), "tl-small"))
    x += _advance(110, 30, label)
    c.add(f'<rect class="tl-box tl-model" x="{x}" y="{y - 12}" width="24" height="14" rx="4" '
          'style="stroke: #8c8c8c"/>')  # fmt: skip
    label = _("state the model gives")
    c.add(_text(x + 30, y, esc(label), "tl-small"))
    x += _advance(170, 30, label)
    c.add(_text(x, y, esc("⚠ " + _("what is wrong")), "tl-mark tl-small"))
    c.add("</g>")
    c.y += 28


def small_width(text: str) -> float:
    """An estimate of `text`'s width in px in the legend's small type (10.5 px): per column."""
    return columns(text) * SMALL_W


def _advance(least: int, before: int, label: str) -> int:
    """How far the legend moves on past an item whose text starts `before` px in: `least`, or
    more when its text (a translation) is longer, so no label runs into the next item."""
    return max(least, before + math.ceil(small_width(label)) + 16)


def shown(steps: tuple[Step, ...]) -> list[Step]:
    """The steps drawn: all of them, or those up to the HEAD_ARROWS-th segment, a note of how many
    were left out, and those from the TAIL_ARROWS-th last segment on; at most MAX_STEPS (a
    capped report still has 250 segments: a picture of them all would be metres long)."""
    arrows = [i for i, s in enumerate(steps) if s.arrow is not None]
    out = list(steps)
    if len(arrows) > HEAD_ARROWS + TAIL_ARROWS:
        cut, resume = arrows[HEAD_ARROWS - 1] + 1, arrows[-TAIL_ARROWS]
        left = len(arrows) - HEAD_ARROWS - TAIL_ARROWS
        note = Step(
            None,
            text=_("… {n} segments not drawn here (the text ladder has them)").format(n=left),
        )
        out = out[:cut] + [note] + out[resume:]
    if len(out) > MAX_STEPS:
        left = len(out) - MAX_STEPS + 1
        more = Step(None, text=_("… {n} more steps not drawn").format(n=left))
        out = out[: MAX_STEPS - 1] + [more]
    return out


def body(ladder: Ladder) -> tuple[str, float]:
    """The diagram's elements (no <svg> around them) and their height."""
    c = _Canvas(y=8)
    _header(c, ladder)
    life_top = c.y - 8
    _start(c, ladder)
    for step in shown(ladder.steps):
        if step.arrow is not None:
            _arrow_step(c, step, step.arrow, ladder.several)
        elif step.text or step.ok is not None:
            _text_step(c, step, ladder.several)
        elif step.changes:
            _changes_step(c, step, ladder.several)
    if not ladder.steps:
        _text_step(c, Step(None, text=_("no segments were observed")), False)
    lives = "".join(
        f'<line class="tl-life" x1="{x}" y1="{num(life_top)}" x2="{x}" y2="{num(c.y + 4)}"/>'
        for x in (YOU_X, KERNEL_X)
    )
    c.y += 8
    _legend(c)
    return lives + "".join(c.parts), c.y + 4


def title(ladder: Ladder) -> str:
    return _("the exchange between {you} and {kernel}").format(
        you=_lane_words(ladder.you), kernel=_lane_words(ladder.kernel)
    )


def _lane_words(lane: Lane) -> str:
    return f"{lane.title} {lane.address}".strip()


def diagram(ladder: Ladder) -> Drawing:
    """The ladder as a standalone <svg> sequence diagram."""
    inner, height = body(ladder)
    return Drawing(root(inner, WIDTH, height, title(ladder)), WIDTH, height)
