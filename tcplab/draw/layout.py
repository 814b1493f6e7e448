"""Where the state diagram's boxes, arrows and labels go: laid out once, by hand, kept here as data.

The arrangement is RFC 9293's figure 5 (RFC 793's figure 6), in three columns and seven rows:

    row 0                 CLOSED
    row 1                 LISTEN
    row 2   SYN_RECEIVED                  SYN_SENT
    row 3                 ESTABLISHED
    row 4   FIN_WAIT_1                    CLOSE_WAIT
    row 5   FIN_WAIT_2    CLOSING         LAST_ACK
    row 6                 TIME_WAIT       CLOSED

CLOSED is drawn twice, as in the RFC: at the top where a connection begins (and where LISTEN and
SYN_SENT return), at the bottom right where LAST_ACK and TIME_WAIT end. The RFC leaves out the
resets (a RST, an abort, a retry limit); the table makes them, so they are drawn too, each to a
small CLOSED of its own beside the state (a `stub`), which keeps the lines short and the labels
beside them. Two arrows the RFC does not draw come back up from TIME_WAIT (a SYN that reopens it,
a connect() that reuses its 4-tuple): they run along the picture's left and right margins.

Every arrow is an orthogonal polyline from the side of one box to the side of another (the last
point touches the target's edge, where the arrow head goes). Its label is a block of lines whose
anchor point is `label` (the top of its first line) aligned by `anchor` as SVG's text-anchor
("start", "middle", "end"). Text is measured by an estimate of its width (CHAR_W per character of
the 11 px sans-serif the diagram uses): tests/unit/test_state_diagram.py holds that no label box
overlaps a box or another label, and that every arrow starts and ends on its boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from tcplab.model.state import State
from tcplab.text import columns

WIDTH, HEIGHT = 1190.0, 930.0
FONT = 11.0  # px, labels
CHAR_W = 6.3  # the width of a character of FONT px sans-serif, a little generous
LINE_H = 13.0  # one line of a label
BOX_W, BOX_H = 150.0, 36.0
STUB_W, STUB_H = 64.0, 22.0

L, C, R = 320.0, 640.0, 960.0  # the columns' centres
Y = (50.0, 170.0, 300.0, 430.0, 560.0, 690.0, 820.0)  # the rows' centres

Point = tuple[float, float]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Rect, gap: float = 0.0) -> bool:
        return not (
            self.x + self.w + gap <= other.x
            or other.x + other.w + gap <= self.x
            or self.y + self.h + gap <= other.y
            or other.y + other.h + gap <= self.y
        )

    def touches(self, point: Point) -> bool:
        """`point` lies on this rectangle's border."""
        x, y = point
        inside_x, inside_y = self.x <= x <= self.x + self.w, self.y <= y <= self.y + self.h
        on_x = x in (self.x, self.x + self.w) and inside_y
        on_y = y in (self.y, self.y + self.h) and inside_x
        return on_x or on_y


@dataclass(frozen=True)
class Node:
    """A box: a state at (x, y), its centre; a stub is a small CLOSED beside a state."""

    key: str
    state: State
    x: float
    y: float
    stub: bool = False

    @property
    def rect(self) -> Rect:
        w, h = (STUB_W, STUB_H) if self.stub else (BOX_W, BOX_H)
        return Rect(self.x - w / 2, self.y - h / 2, w, h)


@dataclass(frozen=True)
class Route:
    """An arrow's way from one node to another, and where its label goes."""

    source: str  # node keys
    target: str
    points: tuple[Point, ...]
    label: Point
    anchor: str = "start"


def _node(state: State, x: float, row: int, key: str = "") -> Node:
    return Node(key or state.value, state, x, Y[row])


def _stub(state: State, x: float, row: int, down: float = 0.0) -> Node:
    return Node(f"CLOSED:{state.value}", State.CLOSED, x, Y[row] + down, stub=True)


S = State
NODES: dict[str, Node] = {
    n.key: n
    for n in (
        _node(S.CLOSED, C, 0),
        _node(S.LISTEN, C, 1),
        _node(S.SYN_RECEIVED, L, 2),
        _node(S.SYN_SENT, R, 2),
        _node(S.ESTABLISHED, C, 3),
        _node(S.FIN_WAIT_1, L, 4),
        _node(S.CLOSE_WAIT, R, 4),
        _node(S.FIN_WAIT_2, L, 5),
        _node(S.CLOSING, C, 5),
        _node(S.LAST_ACK, R, 5),
        _node(S.TIME_WAIT, C, 6),
        _node(S.CLOSED, R, 6, key="CLOSED:end"),
        _stub(S.SYN_RECEIVED, 160, 2),
        _stub(S.ESTABLISHED, 468, 3, down=12),
        _stub(S.FIN_WAIT_1, 160, 4),
        _stub(S.FIN_WAIT_2, 160, 5),
        _stub(S.CLOSING, 790, 5),
        _stub(S.CLOSE_WAIT, 1100, 4),
    )
}
START = "CLOSED"  # the node of a path that begins in CLOSED


def _r(source: str, target: str, points: list[Point], label: Point, anchor: str = "start") -> Route:
    return Route(source, target, tuple(points), label, anchor)


def _to_stub(state: State, points: list[Point], label: Point) -> Route:
    return Route(state.value, f"CLOSED:{state.value}", tuple(points), label, "middle")


TW, CW, SR, SS, EST = "TIME_WAIT", "CLOSE_WAIT", "SYN_RECEIVED", "SYN_SENT", "ESTABLISHED"
FW1, FW2, LA = "FIN_WAIT_1", "FIN_WAIT_2", "LAST_ACK"

ROUTES: dict[tuple[State, State], Route] = {
    # opening
    (S.CLOSED, S.LISTEN): _r("CLOSED", "LISTEN", [(610, 68), (610, 152)], (598, 104), "end"),
    (S.LISTEN, S.CLOSED): _r("LISTEN", "CLOSED", [(670, 152), (670, 68)], (682, 104)),
    (S.CLOSED, S.SYN_SENT): _r("CLOSED", SS, [(715, 42), (990, 42), (990, 282)], (730, 22)),
    (S.SYN_SENT, S.CLOSED): _r(SS, "CLOSED", [(930, 282), (930, 60), (715, 60)], (730, 68)),
    (S.LISTEN, S.SYN_RECEIVED): _r(
        "LISTEN", SR, [(565, 164), (290, 164), (290, 282)], (555, 146), "end"
    ),
    (S.SYN_RECEIVED, S.LISTEN): _r(SR, "LISTEN", [(350, 282), (350, 184), (565, 184)], (364, 194)),
    (S.SYN_SENT, S.SYN_RECEIVED): _r(SS, SR, [(885, 300), (395, 300)], (780, 282), "middle"),
    (S.SYN_SENT, S.ESTABLISHED): _r(SS, EST, [(960, 318), (960, 422), (715, 422)], (730, 404)),
    (S.SYN_RECEIVED, S.ESTABLISHED): _r(SR, EST, [(320, 318), (320, 416), (565, 416)], (330, 386)),
    (S.LISTEN, S.ESTABLISHED): _r("LISTEN", EST, [(640, 188), (640, 412)], (652, 330)),
    (S.SYN_RECEIVED, S.CLOSE_WAIT): _r(
        SR, CW, [(375, 318), (375, 360), (860, 360), (860, 552), (885, 552)], (450, 344)
    ),
    # closing
    (S.ESTABLISHED, S.FIN_WAIT_1): _r(
        EST, FW1, [(610, 448), (610, 552), (395, 552)], (600, 534), "end"
    ),
    (S.SYN_RECEIVED, S.FIN_WAIT_1): _r(SR, FW1, [(265, 318), (265, 542)], (253, 422), "end"),
    (S.ESTABLISHED, S.CLOSE_WAIT): _r(EST, CW, [(715, 440), (930, 440), (930, 542)], (725, 448)),
    (S.FIN_WAIT_1, S.FIN_WAIT_2): _r(FW1, FW2, [(320, 578), (320, 672)], (308, 614), "end"),
    (S.FIN_WAIT_1, S.CLOSING): _r(FW1, "CLOSING", [(395, 570), (620, 570), (620, 672)], (405, 577)),
    (S.FIN_WAIT_1, S.TIME_WAIT): _r(
        FW1, TW, [(360, 578), (360, 630), (530, 630), (530, 812), (565, 812)], (370, 612)
    ),
    (S.CLOSING, S.TIME_WAIT): _r("CLOSING", TW, [(640, 708), (640, 802)], (628, 750), "end"),
    (S.FIN_WAIT_2, S.TIME_WAIT): _r(FW2, TW, [(320, 708), (320, 828), (565, 828)], (330, 810)),
    (S.CLOSE_WAIT, S.LAST_ACK): _r(CW, LA, [(960, 578), (960, 672)], (972, 614)),
    (S.LAST_ACK, S.CLOSED): _r(LA, "CLOSED:end", [(960, 708), (960, 802)], (948, 722), "end"),
    (S.TIME_WAIT, S.CLOSED): _r(TW, "CLOSED:end", [(715, 820), (885, 820)], (730, 796)),
    # back up from TIME_WAIT, along the margins
    (S.TIME_WAIT, S.SYN_RECEIVED): _r(
        TW, SR, [(600, 838), (600, 890), (30, 890), (30, 250), (260, 250), (260, 282)], (60, 872)
    ),
    (S.TIME_WAIT, S.SYN_SENT): _r(
        TW, SS, [(680, 838), (680, 910), (1160, 910), (1160, 310), (1035, 310)], (900, 892)
    ),
    # resets, each to a CLOSED of its own
    (S.SYN_RECEIVED, S.CLOSED): _to_stub(S.SYN_RECEIVED, [(245, 300), (192, 300)], (160, 316)),
    (S.ESTABLISHED, S.CLOSED): _to_stub(S.ESTABLISHED, [(565, 442), (500, 442)], (468, 458)),
    (S.FIN_WAIT_1, S.CLOSED): _to_stub(S.FIN_WAIT_1, [(245, 560), (192, 560)], (160, 576)),
    (S.FIN_WAIT_2, S.CLOSED): _to_stub(S.FIN_WAIT_2, [(245, 690), (192, 690)], (160, 706)),
    (S.CLOSING, S.CLOSED): _to_stub(S.CLOSING, [(715, 690), (758, 690)], (790, 646)),
    (S.CLOSE_WAIT, S.CLOSED): _to_stub(S.CLOSE_WAIT, [(1035, 560), (1068, 560)], (1100, 576)),
}

LEGEND: Point = (20.0, 20.0)  # the title's and the legend's top left corner
LEGEND_BOX = Rect(20.0, 20.0, 265.0, 170.0)  # the legend's lines stay inside (nothing else there)


def text_width(line: str) -> float:
    return columns(line) * CHAR_W  # a CJK character counts two


def label_box(route: Route, lines: tuple[str, ...]) -> Rect:
    """Where a label of these lines is drawn (the estimate its text fits in)."""
    w = max((text_width(line) for line in lines), default=0.0)
    h = LINE_H * len(lines)
    x, y = route.label
    left = {"start": x, "middle": x - w / 2, "end": x - w}[route.anchor]
    return Rect(left, y, w, h)


def node_of(state: State) -> Node:
    """A state's own box (for CLOSED: the top one)."""
    return NODES[state.value]


def length(points: tuple[Point, ...]) -> float:
    return sum(abs(b[0] - a[0]) + abs(b[1] - a[1]) for a, b in pairwise(points))


def along(points: tuple[Point, ...], at: float) -> Point:
    """The point `at` px along an orthogonal polyline (its end when `at` is past it)."""
    for a, b in pairwise(points):
        seg = abs(b[0] - a[0]) + abs(b[1] - a[1])
        if at <= seg and seg > 0:
            f = at / seg
            return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
        at -= seg
    return points[-1]


FRACTIONS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.12, 0.88)  # where on an arrow numbers may go


def number_spots(route: Route, count: int, clear: list[Rect], r: float, gap: float) -> list[Point]:
    """Where `count` step numbers (circles of radius r, `gap` apart) go on `route`: the first
    place from its middle outwards where none covers a rectangle of `clear` (labels, boxes)."""
    total = length(route.points)
    first: list[Point] = []
    for fraction in FRACTIONS:
        centre = total * fraction
        spots = [along(route.points, centre + (i - (count - 1) / 2) * gap) for i in range(count)]
        first = first or spots
        circles = [Rect(x - r, y - r, 2 * r, 2 * r) for x, y in spots]
        if not any(c.overlaps(box, gap=3) for c in circles for box in clear):
            return spots
    return first
