"""The state diagram of TCP's 11 states, drawn from the one table, with the paths of an exchange.

`diagram(paths)` draws every state and every arrow the table makes (tcplab.draw.graph) where
tcplab.draw.layout puts them, in neutral grey, then each path (an engine.ladder.Path: the states
one side took on one connection) on top: its arrows thicker and in its colour, its states outlined,
each step numbered in a small circle on its arrow in the order taken (an arrow taken twice carries
both numbers). Colour is never the only carrier: the kernel's paths are dashed, yours solid, and the
numbers give the order. A step the table has no arrow for (a state the socket table's sampler missed
in between) is a dotted arc labelled "(skipped)".

Colours are Okabe-Ito's (colour-blind safe): the kernel blue #0072B2, you orange #E69F00, further
connections green, purple, vermilion, yellow. The picture is print friendly (white ground, black
text) and has a dark theme (prefers-color-scheme) in its own <style>, whose rules are scoped by the
drawing's id (`prefix`), so several diagrams can share one HTML page.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from itertools import pairwise

from tcplab.draw import layout
from tcplab.draw.graph import Transition, transitions
from tcplab.draw.layout import FONT, LINE_H, NODES, ROUTES, Node, Point, Route
from tcplab.draw.svg import SANS, SVG_NS, Drawing, clip, esc, fonts, num
from tcplab.engine.ladder import Path
from tcplab.engine.report import Side
from tcplab.i18n import N_, _
from tcplab.model.state import State
from tcplab.text import columns

KERNEL_COLOUR, YOU_COLOUR = "#0072B2", "#E69F00"
MORE_COLOURS = ("#009E73", "#CC79A7", "#D55E00", "#F0E442")
DARK = {KERNEL_COLOUR: "#56B4E9"}  # the kernel's blue is too dark on a dark ground
LIGHT = frozenset({YOU_COLOUR, "#F0E442"})  # light colours: their numbers are written in black
DASH = {Side.KERNEL: "7 3", Side.CRAFTING: "none"}  # as the sequence diagram draws them
NUM_R = 8.0  # a step number's circle
NUM_GAP = 20.0  # between two numbers on one arrow
OFFSET = 4.0  # between two paths on one arrow
TITLE_CHARS = 48  # a longer title is cut: it would reach the top CLOSED
LEGEND_ROWS = 7  # lines of the legend, each a path (more are counted on the last)


def document(drawing: Drawing) -> str:
    """A standalone SVG file's text."""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{drawing.svg}\n'


def _d(points: tuple[Point, ...] | list[Point]) -> str:
    return "M" + " L".join(f"{num(x)} {num(y)}" for x, y in points)


def _text(x: float, top: float, lines: tuple[str, ...], cls: str, anchor: str = "start") -> str:
    """Lines of text whose first line's top is at `top`."""
    spans = "".join(
        f'<tspan x="{num(x)}" y="{num(top + FONT - 1 + i * LINE_H)}">{esc(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text class="{cls}" text-anchor="{anchor}">{spans}</text>'


@dataclass(frozen=True)
class _Paint:
    """One path's look: its colour slot, its side's dash, its legend text."""

    slot: int
    colour: str
    side: Side
    text: str


def _paints(paths: list[Path]) -> list[_Paint]:
    first = {Side.KERNEL: KERNEL_COLOUR, Side.CRAFTING: YOU_COLOUR}
    more = iter(MORE_COLOURS * (1 + len(paths) // len(MORE_COLOURS)))
    out: list[_Paint] = []
    for slot, path in enumerate(paths):
        colour = first.pop(path.side, None) or next(more)
        who = _("kernel") if path.side is Side.KERNEL else _("you")
        out.append(_Paint(slot, colour, path.side, f"{who} {path.conn}".strip()))
    return out


def _css(p: str, paints: list[_Paint]) -> str:
    s = f"#{p}"
    rules = [
        f"{s} {{ font-family: {fonts(SANS)}; font-size: {num(FONT)}px; }}",
        f"{s} .tls-bg {{ fill: #ffffff; }}",
        f"{s} text {{ fill: #111111; }}",
        f"{s} .tls-name {{ font-size: 12.5px; font-weight: 600; }}",
        f"{s} .tls-stubname {{ font-size: 9.5px; }}",
        f"{s} .tls-title {{ font-size: 15px; font-weight: 700; }}",
        f"{s} .tls-label {{ fill: #333333; }}",
        f"{s} .tls-box {{ fill: #ffffff; stroke: #444444; stroke-width: 1.4; }}",
        f"{s} .tls-stub {{ fill: #ffffff; stroke: #777777; stroke-width: 1; "
        "stroke-dasharray: 3 2; }",
        f"{s} .tls-edge {{ fill: none; stroke: #9a9a9a; stroke-width: 1.3; }}",
        f"{s} .tls-head {{ fill: #9a9a9a; }}",
        f"{s} .tls-hl {{ fill: none; stroke-width: 3.6; stroke-linejoin: round; }}",
        f"{s} .tls-visit {{ fill: none; stroke-width: 3; }}",
        f"{s} .tls-skip {{ fill: none; stroke-width: 2.4; stroke-dasharray: 1.5 5; "
        "stroke-linecap: round; }",
        f"{s} text.tls-numtext {{ fill: #ffffff; font-size: 10px; font-weight: 700; }}",
        f"{s} text.tls-skiptext {{ font-style: italic; }}",
    ]
    dark = [
        f"{s} .tls-bg, {s} .tls-box, {s} .tls-stub {{ fill: #1b1d21; }}",
        f"{s} text {{ fill: #ececec; }}",
        f"{s} .tls-label {{ fill: #c8c8c8; }}",
        f"{s} .tls-box {{ stroke: #b8b8b8; }}",
        f"{s} .tls-stub {{ stroke: #909090; }}",
        f"{s} .tls-edge {{ stroke: #6f6f6f; }}",
        f"{s} .tls-head {{ fill: #6f6f6f; }}",
    ]
    for paint in paints:
        c = f".tls-c{paint.slot}"
        dash = DASH[paint.side]
        rules.append(f"{s} {c} {{ stroke: {paint.colour}; stroke-dasharray: {dash}; }}")
        rules.append(f"{s} .tls-fill{c} {{ fill: {paint.colour}; stroke: none; }}")
        rules.append(f"{s} .tls-skip{c} {{ stroke-dasharray: 1.5 5; }}")
        ink = "#000000" if paint.colour in LIGHT else "#ffffff"
        rules.append(f"{s} text.tls-numtext.tls-ink{paint.slot} {{ fill: {ink}; }}")
        if paint.colour in DARK:
            dark.append(f"{s} {c} {{ stroke: {DARK[paint.colour]}; }}")
            dark.append(f"{s} .tls-fill{c} {{ fill: {DARK[paint.colour]}; }}")
            dark.append(f"{s} text.tls-numtext.tls-ink{paint.slot} {{ fill: #000000; }}")
    light = "\n".join(rules)
    # printed: black on white, whatever the screen's scheme
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{chr(10).join(dark)}\n}}" + (
        f"\n@media print {{\n{light}\n}}"
    )


def _markers(p: str, paints: list[_Paint]) -> str:
    def marker(ident: str, cls: str) -> str:
        return (
            f'<marker id="{ident}" viewBox="0 0 10 10" refX="9.5" refY="5" markerWidth="9" '
            'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
            f'<path class="{cls}" d="M0 0 L10 5 L0 10 z"/></marker>'
        )

    heads = [marker(f"{p}-head", "tls-head")]
    heads += [marker(f"{p}-head{x.slot}", f"tls-fill tls-c{x.slot}") for x in paints]
    return "<defs>" + "".join(heads) + "</defs>"


def _box(node: Node) -> str:
    r = node.rect
    cls, name_cls = ("tls-stub", "tls-stubname") if node.stub else ("tls-box", "tls-name")
    rx = 4 if node.stub else 7
    size = 9.5 if node.stub else 12.5
    return (
        f'<rect class="{cls}" x="{num(r.x)}" y="{num(r.y)}" width="{num(r.w)}" '
        f'height="{num(r.h)}" rx="{rx}"/>'
        f'<text class="{name_cls}" x="{num(node.x)}" y="{num(node.y + size * 0.36)}" '
        f'text-anchor="middle">{esc(node.state.value)}</text>'
    )


def _edge(p: str, t: Transition) -> str:
    route = ROUTES[(t.source, t.target)]
    title = f"{t.source.value} → {t.target.value}: {t.label}"
    return (
        f'<g><title>{esc(title)}</title><path class="tls-edge" d="{_d(route.points)}" '
        f'marker-end="url(#{p}-head)"/>'
        + _text(route.label[0], route.label[1], t.lines, "tls-label", route.anchor)
        + "</g>"
    )


def _states(path: Path) -> list[State]:
    out: list[State] = []
    for name in path.states:
        try:
            out.append(State.parse(name))
        except ValueError:
            continue
    return out


@dataclass
class _Marks:
    """What the paths put on the picture, gathered before it is drawn."""

    overlays: list[str]
    visits: dict[str, list[int]]  # node key -> the slots of the paths that went there
    numbers: dict[tuple[State, State], list[tuple[int, int]]]  # route -> (slot, step number)
    on_route: dict[tuple[State, State], int]  # how many paths already drew on this route


def _shift(points: tuple[Point, ...], by: float) -> tuple[Point, ...]:
    return tuple((x + by, y + by) for x, y in points)


def _skipped(p: str, paint: _Paint, a: Node, b: Node, number: int) -> str:
    """A dotted arc between two boxes the table has no arrow between, with its number."""
    ax, ay = a.x + a.rect.w / 2, a.y
    bx, by = b.x + b.rect.w / 2, b.y
    cx, cy = max(ax, bx) + 80, (ay + by) / 2
    mx, my = (ax + 2 * cx + bx) / 4, (ay + 2 * cy + by) / 4
    c = f"tls-c{paint.slot}"
    return (
        f'<path class="tls-skip {c}" d="M{num(ax)} {num(ay)} Q{num(cx)} {num(cy)} '
        f'{num(bx)} {num(by)}" marker-end="url(#{p}-head{paint.slot})"/>'
        + _text(mx + 12, my - 6, (_("(skipped)"),), "tls-label tls-skiptext")
        + _circle(paint, (mx, my), number)
    )


def _circle(paint: _Paint, at: Point, number: int) -> str:
    x, y = at
    return (
        f'<circle class="tls-fill tls-c{paint.slot}" cx="{num(x)}" cy="{num(y)}" '
        f'r="{num(NUM_R)}"/><text class="tls-numtext tls-ink{paint.slot}" x="{num(x)}" y="{num(y + 3.5)}" '
        f'text-anchor="middle">{number}</text>'
    )


def _walk(p: str, paint: _Paint, path: Path, marks: _Marks) -> None:
    states = _states(path)
    if not states:
        return
    here = layout.node_of(states[0]).key
    marks.visits.setdefault(here, []).append(paint.slot)
    number = 0
    for a, b in pairwise(states):
        if a is b:
            continue
        number += 1
        route = ROUTES.get((a, b))
        if route is None:
            target = layout.node_of(b)
            marks.overlays.append(_skipped(p, paint, NODES[here], target, number))
            here = target.key
        else:
            _take(p, paint, (a, b), route, marks, number)
            here = route.target
        if paint.slot not in marks.visits.setdefault(here, []):
            marks.visits[here].append(paint.slot)


def _take(
    p: str, paint: _Paint, key: tuple[State, State], route: Route, marks: _Marks, number: int
) -> None:
    numbers = marks.numbers.setdefault(key, [])
    if not any(slot == paint.slot for slot, _ in numbers):
        n = marks.on_route.get(key, 0)
        marks.on_route[key] = n + 1
        by = OFFSET * ((n + 1) // 2) * (1 if n % 2 else -1)
        marks.overlays.append(
            f'<path class="tls-hl tls-c{paint.slot}" d="{_d(_shift(route.points, by))}" '
            f'marker-end="url(#{p}-head{paint.slot})"/>'
        )
    numbers.append((paint.slot, number))


def _clear() -> list[layout.Rect]:
    """What a step number must not cover: every label and every box."""
    labels = [layout.label_box(ROUTES[(t.source, t.target)], t.lines) for t in transitions()]
    return labels + [n.rect for n in NODES.values()]


def _numbers(marks: _Marks, paints: list[_Paint]) -> str:
    out = []
    clear = _clear()
    for key, numbers in marks.numbers.items():
        spots = layout.number_spots(ROUTES[key], len(numbers), clear, NUM_R, NUM_GAP)
        for (slot, number), at in zip(numbers, spots, strict=True):
            out.append(_circle(paints[slot], at, number))
    return "".join(out)


def _visits(marks: _Marks) -> str:
    out = []
    for key, slots in marks.visits.items():
        r = NODES[key].rect
        for i, slot in enumerate(slots):
            g = 2.5 + 3.5 * i
            out.append(
                f'<rect class="tls-visit tls-c{slot}" x="{num(r.x - g)}" y="{num(r.y - g)}" '
                f'width="{num(r.w + 2 * g)}" height="{num(r.h + 2 * g)}" rx="{num(7 + g)}"/>'
            )
    return "".join(out)


def _legend(p: str, title: str, paints: list[_Paint]) -> str:
    """The title and one line per path, in the top left corner (layout.LEGEND_BOX), which holds
    LEGEND_ROWS of them: more are counted on a last line."""
    x, y = layout.LEGEND
    out = []
    if title:
        out.append(_text(x, y, (clip(title, TITLE_CHARS),), "tls-title"))
    y += 24
    shown = paints if len(paints) <= LEGEND_ROWS else paints[: LEGEND_ROWS - 1]
    for paint in shown:
        out.append(
            f'<path class="tls-hl tls-c{paint.slot}" d="M{num(x)} {num(y + 6)} '
            f'L{num(x + 36)} {num(y + 6)}" marker-end="url(#{p}-head{paint.slot})"/>'
        )
        out.append(_text(x + 44, y, (clip(paint.text, 22),), "tls-legend"))
        y += 18
    if len(shown) < len(paints):
        more = _("and {n} more").format(n=len(paints) - len(shown))
        out.append(_text(x + 44, y, (more,), "tls-legend"))
        y += 18
    if paints:
        out.append(_text(x, y + 2, (_("1, 2, 3 …: the steps of each, in order"),), "tls-label"))
    return "".join(out)


def diagram(paths: list[Path], *, title: str = "", prefix: str = "") -> Drawing:
    """The 11 states and every transition of the table, with `paths` highlighted and numbered.

    `prefix` starts every id and scopes every style rule; by default it is made from the paths and
    the title, so two different diagrams in one HTML page never share one."""
    prefix = prefix or _prefix(paths, title)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", prefix):
        raise ValueError(f"prefix {prefix!r}: a letter, then letters, digits, - or _")
    paints = _paints(paths)
    marks = _Marks([], {}, {}, {})
    for paint, path in zip(paints, paths, strict=True):
        _walk(prefix, paint, path, marks)
    w, h = layout.WIDTH, layout.HEIGHT
    label = title or _("TCP's states and transitions")
    body = (
        f'<rect class="tls-bg" x="0" y="0" width="{num(w)}" height="{num(h)}"/>'
        + "".join(_edge(prefix, t) for t in transitions())
        + "".join(_box(n) for n in NODES.values())
        + _visits(marks)
        + "".join(marks.overlays)
        + _numbers(marks, paints)
        + _legend(prefix, title, paints)
    )
    svg = (
        f'<svg xmlns="{SVG_NS}" id="{esc(prefix)}" width="{num(w)}" height="{num(h)}" '
        f'viewBox="0 0 {num(w)} {num(h)}" role="img" aria-label="{esc(label)}">'
        f"<title>{esc(label)}</title><style>{_css(prefix, paints)}</style>"
        f"{_markers(prefix, paints)}{body}</svg>"
    )
    return Drawing(svg, w, h)


def _prefix(paths: list[Path], title: str) -> str:
    key = repr([(p.side.value, p.conn, p.states) for p in paths]) + title
    return "tls-" + hashlib.sha1(key.encode()).hexdigest()[:10]


def listing() -> str:
    """The 11 states and their transitions as text (`tcplab states`)."""
    by_source: dict[State, list[Transition]] = {}
    for t in transitions():
        by_source.setdefault(t.source, []).append(t)
    out = [_("TCP's 11 states (RFC 9293 §3.3.2) and the transitions tcplab's model makes"), ""]
    for state in State:
        out.append(f"{state.value} (ss: {state.ss})")
        for t in sorted(by_source.get(state, []), key=lambda t: list(State).index(t.target)):
            head = f"  {_(ARROW)} {t.target.value:<13} "
            for i, line in enumerate(t.lines):
                out.append((head if i == 0 else " " * columns(head)) + line)
    return "\n".join(out + ["", *(_(line) for line in KEY)])


# TRANSLATORS: an arrow in a terminal; "->" where "→" may be two columns wide (CJK terminals)
ARROW = N_("→")
KEY = (
    N_("rcv X: a segment with X arrives; / snd Y: the kernel sends Y (no / snd: nothing)"),
    N_("abort: close() with SO_LINGER 0 or unread data; retries out: too many timeouts"),
    N_("rcv ACK of cookie: the ACK of a SYN cookie's SYN+ACK (the SYN queue was full)"),
    N_("CLOSED: no socket; a listener's SYN_RECEIVED is a request sock (ss: SYN-RECV)"),
)
