"""The ladder: an exchange as two lanes, you | kernel, with arrows across and each side's states.

Pure data, built once from a Report (`build`) and drawn by every picture of an exchange: the
terminal (cli/render.py), SVG and Mermaid (tcplab/draw). A Ladder is a list of Steps in the order
things happened; a Step is one arrow (a segment), or a line of text, and carries the state changes
placed on it: a kernel state change is put beside the arrow that caused it (the model names the
cause; a socket table's sampler reads a state a little late, and on its own would put it after
later segments), else where it was observed.

Numbers are relative and signed (a seq to its sender's ISN, an ack to the other side's), or
absolute on request. With more than one connection every step names its own (`Step.conn`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tcplab.engine.predicted import Predicted
from tcplab.engine.report import (
    ExpectRow,
    How,
    NoteRow,
    Report,
    Row,
    SegmentRow,
    Side,
    StateRow,
)
from tcplab.engine.seen import Seen
from tcplab.engine.words import cause_text
from tcplab.i18n import N_, _
from tcplab.model.flags import Flags
from tcplab.model.seqnum import signed
from tcplab.model.state import State
from tcplab.model.table import Place

NO_SOCKET = "CLOSED"  # a side without a socket for this connection, as the handouts name it


class Way(str, Enum):
    """Which way an arrow goes."""

    TO_KERNEL = "to_kernel"
    TO_YOU = "to_you"


@dataclass(frozen=True)
class Arrow:
    """A segment: its flags (tcpdump's letters), its fields as shown (each never broken: "seq +1",
    "ack +1", "win 64240", "<mss 1460>", "len 5"), what is wrong with it, and (a kernel segment)
    its cause as the model names it."""

    way: Way
    flags: str
    fields: tuple[str, ...]
    marks: tuple[str, ...] = ()
    cause: str = ""  # a kernel segment: "your segment 3 (A) from port 40000", "app close() ..."
    agrees: bool | None = None  # the model predicted it (True), otherwise (False), no word (None)
    by_you: bool = False  # its cause is a segment of yours (not an application call or a timer)

    @property
    def text(self) -> str:
        return " ".join((self.flags, *self.fields))

    @property
    def from_kernel(self) -> bool:
        return self.way is Way.TO_YOU


@dataclass(frozen=True)
class Change:
    """A side's state change: state names as the handouts write them (CLOSED for no socket;
    LISTEN before a connection a listener takes)."""

    side: Side
    before: str
    after: str
    how: How
    note: str = ""

    @property
    def text(self) -> str:
        return self.after if self.before == self.after else f"{self.before} → {self.after}"


@dataclass(frozen=True)
class Step:
    """One line of the ladder: an arrow, or a line of text (a note; a scenario step with `ok`),
    or only state changes; `conn` is its connection's label ("" with one connection)."""

    time: float | None  # seconds since the ladder's first segment; None: not known
    conn: str = ""
    arrow: Arrow | None = None
    changes: tuple[Change, ...] = ()
    text: str = ""
    ok: bool | None = None  # a scenario step's expected vs observed: passed or not

    def change(self, side: Side) -> Change | None:
        return next((c for c in self.changes if c.side is side), None)


@dataclass(frozen=True)
class Lane:
    """A side: its role ("you", "kernel"), its namespace when it is short enough to read (ns1;
    a grader's generated one is left out), and its address."""

    role: str
    host: str
    address: str

    @property
    def title(self) -> str:
        role = _(self.role)  # "you", "kernel": marked where the lanes are made
        return f"{role} ({self.host})" if self.host else role


@dataclass(frozen=True)
class Conn:
    """A connection on the ladder: (your port, the kernel's port) and its label."""

    crafting_port: int
    kernel_port: int
    label: str


@dataclass(frozen=True)
class Path:
    """The states one side took on one connection, in order (for the state diagram)."""

    side: Side
    conn: str
    states: tuple[str, ...]


@dataclass(frozen=True)
class Ladder:
    you: Lane
    kernel: Lane
    conns: tuple[Conn, ...]
    steps: tuple[Step, ...]
    start: tuple[Change, ...] = ()  # each side's state before the first step (before == after)
    relative: bool = True

    @property
    def several(self) -> bool:
        """More than one connection: every step names its own."""
        return len(self.conns) > 1

    def paths(self) -> list[Path]:
        """Each side's states on each connection, in order, from the start and every change."""
        out: dict[tuple[Side, str], list[str]] = {}
        for c in self.start:
            out.setdefault((c.side, ""), []).append(c.after)
        for step in self.steps:
            for c in step.changes:
                states = out.setdefault((c.side, step.conn), [])
                for state in (c.before, c.after):
                    if not states or states[-1] != state:
                        states.append(state)
        return [Path(side, conn, tuple(states)) for (side, conn), states in out.items() if states]


SHORT_HOST = 8  # a namespace name longer than this is a generated one: the lane shows its role


def _lane(role: str, described: str) -> Lane:
    """A lane from a report's description of a host ("ns1 10.77.0.1")."""
    parts = described.split()
    host = parts[0] if parts else ""
    address = parts[1] if len(parts) > 1 else ""
    return Lane(role, host if 0 < len(host) <= SHORT_HOST else "", address)


def _conns(rows: list[Row]) -> tuple[Conn, ...]:
    keys: list[tuple[int, int]] = []
    for row in rows:
        if isinstance(row, SegmentRow) and row.seen.key not in keys:
            keys.append(row.seen.key)
    one_kernel_port = len({k for _, k in keys}) <= 1
    return tuple(Conn(c, k, f":{c}" if one_kernel_port else f":{c}⇄:{k}") for c, k in keys)


def _fields(report: Report, seen: Seen, relative: bool) -> tuple[str, ...]:
    seg = seen.segment
    seq_base, ack_base = report.bases(seen) if relative else (None, None)
    has_ack = Flags.ACK in seg.flags

    def num(value: int, base: int | None) -> str:
        return str(value) if base is None else f"{signed(value, base):+d}"

    out = [f"seq {num(seg.seq, seq_base)}"]
    if has_ack:
        out.append(f"ack {num(seg.ack, ack_base)}")
    out.append(f"win {seg.window}")
    if Flags.URG in seg.flags:
        out.append(f"urg {seg.urgptr}")
    if seg.options:
        base = ack_base if has_ack else None
        out.append("<" + ",".join(o.notation(base) for o in seg.options) + ">")
    if seg.payload:
        out.append(f"len {len(seg.payload)}")
    return tuple(out)


def _arrow(report: Report, seen: Seen, relative: bool) -> Arrow:
    marks = ([] if seen.checksum_ok else [_("bad checksum")]) + seen.marks()
    rec: Predicted | None = report.predictions.get(id(seen))
    cause = cause_text(rec.cause) if rec is not None and seen.from_kernel else ""
    agrees = None if rec is None else rec.agrees
    flags = seen.segment.flags.tcpdump
    way = Way.TO_YOU if seen.from_kernel else Way.TO_KERNEL
    by_you = bool(cause) and rec is not None and rec.crafted
    fields = _fields(report, seen, relative)
    return Arrow(way, flags, fields, tuple(marks), cause, agrees, by_you)


def _name(state: State | None, other: State | None, listened: bool | None = None) -> str:
    """A state as the ladder names it; no socket is CLOSED, except before a connection a listener
    takes: LISTEN, as the handouts draw it. Whether a listener took it is the model's word
    (`listened`); without one, a connection that began in SYN_RECEIVED began at a listener."""
    if state is not None and state is not State.CLOSED:
        return str(state.value)
    if listened is None:
        listened = other is State.SYN_RECEIVED
    return State.LISTEN.value if listened and other is not None else NO_SOCKET


def _listened(report: Report, rows: list[Row]) -> dict[tuple[int, int], bool]:
    """Each connection's first input as the model met it: at a listener (LISTEN, or a request
    sock of one) or not. Connections the model was not fed are left out."""
    out: dict[tuple[int, int], bool] = {}
    for row in rows:
        if not isinstance(row, SegmentRow) or row.seen.key in out:
            continue
        rec = report.predictions.get(id(row.seen))
        if rec is not None and rec.prediction.before is not None:
            out[row.seen.key] = rec.prediction.before.place in (Place.LISTEN, Place.REQUEST)
    return out


def build(report: Report, relative: bool = True) -> Ladder:
    """The ladder of `report`'s rows (as shown: a long middle is one note, cap_rows)."""
    rows = report.shown_rows()
    conns = _conns(rows)
    label = {(c.crafting_port, c.kernel_port): c.label for c in conns} if len(conns) > 1 else {}
    steps: list[_Draft] = []
    start: list[Change] = []
    waiting: list[Change] = []  # your side's changes: beside your next arrow
    listened = _listened(report, rows)
    for row in rows:
        match row:
            case SegmentRow(seen=seen):
                arrow = _arrow(report, seen, relative)
                draft = _Draft(report.rel_time(seen.time), label.get(seen.key, ""), arrow, seen)
                if waiting and not seen.from_kernel:
                    # the last change beside this arrow; any before it on lines of their own
                    steps += [_Draft(None, draft.conn, changes=(c,)) for c in waiting[:-1]]
                    draft.changes, waiting = (waiting[-1],), []
                steps.append(draft)
            case StateRow():
                heard = listened.get(row.conn) if row.conn and row.side is Side.KERNEL else None
                before = _name(row.before, row.after if row.before is None else None, heard)
                change = Change(row.side, before, _name(row.after, None), row.how, row.note)
                where = row.before is None and row.after in (State.LISTEN, None)
                if not steps and (where or row.before == row.after):  # where a side stands
                    start.append(Change(row.side, change.after, change.after, row.how, row.note))
                elif row.side is Side.CRAFTING and row.conn is not None and row.time is not None:
                    _yours(steps, change, row.conn, row.time)
                elif row.side is Side.CRAFTING:
                    if not start or all(c.side is not Side.CRAFTING for c in start):
                        start.append(Change(row.side, before, before, row.how))
                    waiting.append(change)
                else:
                    when = None if row.time is None else report.rel_time(row.time)
                    _place(steps, change, _state_conn(row, label), when, report)
            case NoteRow(text=text):
                steps.append(_Draft(None, "", text=text))
            case ExpectRow():
                text = _("{step}: expected {expected}, observed {observed}").format(
                    step=cause_text(row.step), expected=row.expected, observed=row.observed
                )
                steps.append(_Draft(None, "", text=text, ok=row.ok))
    steps += [_Draft(None, "", changes=(c,)) for c in waiting]
    _prove(steps, report)
    kchange = next((c for d in steps for c in d.changes if c.side is Side.KERNEL), None)
    if kchange is not None and len(conns) <= 1 and all(c.side is not Side.KERNEL for c in start):
        start.append(Change(Side.KERNEL, kchange.before, kchange.before, How.OBSERVED))
    return Ladder(
        you=_lane(N_("you"), report.crafting),
        kernel=_lane(N_("kernel"), report.kernel),
        conns=conns,
        steps=tuple(d.step() for d in steps),
        start=tuple(sorted(start, key=lambda c: c.side is Side.KERNEL)),
        relative=relative,
    )


def _yours(steps: list[_Draft], change: Change, conn: tuple[int, int], time: float) -> None:
    """Your side's change that came with a segment (a lab check's, from the model): beside it."""
    for d in reversed(steps):
        if d.seen is not None and d.seen.key == conn and d.seen.time == time:
            if not any(c.side is Side.CRAFTING for c in d.changes):
                d.changes = (*d.changes, change)
                return
            break
    steps.append(_Draft(None, "", changes=(change,)))


def _state_conn(row: StateRow, label: dict[tuple[int, int], str]) -> str:
    return label.get(row.conn, "") if row.conn is not None else ""


@dataclass
class _Draft:
    time: float | None
    conn: str
    arrow: Arrow | None = None
    seen: Seen | None = None
    text: str = ""
    ok: bool | None = None
    changes: tuple[Change, ...] = ()

    def step(self) -> Step:
        return Step(self.time, self.conn, self.arrow, self.changes, self.text, self.ok)


def _place(
    steps: list[_Draft], change: Change, conn: str, time: float | None, report: Report
) -> None:
    """Put a state change on the step that caused it, else on a step of its own at the end.

    The cause: the latest arrow of the same connection (with one connection: any) before the
    change was seen, walking back over arrows the model says left this side in the new state,
    to the first of them; a kernel change goes beside the kernel's answer to that arrow when there
    is one. A step that already shows a change of this side keeps it; this one gets its own."""
    at = len(steps) - 1
    while at >= 0 and not (steps[at].arrow is not None and steps[at].conn == conn):
        at -= 1
    if at >= 0:
        cause = at
        while cause >= 0:
            d = steps[cause]
            if d.arrow is None or d.conn != conn or d.seen is None:
                cause -= 1
                continue
            rec = report.predictions.get(id(d.seen))
            if (
                rec is None
                or rec.agrees is False
                or rec.prediction.place.state.value != change.after
            ):
                break
            at = cause
            cause -= 1
        # beside the answer: the kernel's arrow explained by the same prediction, just after
        seen = steps[at].seen
        rec = None if seen is None else report.predictions.get(id(seen))
        nxt = at + 1
        while rec is not None and nxt < len(steps) and steps[nxt].seen is not None:
            other = steps[nxt].seen
            if other is None or report.predictions.get(id(other)) is not rec:
                break
            at = nxt
            nxt += 1
    if at >= 0 and not any(c.side is change.side for c in steps[at].changes):
        steps[at].changes = (*steps[at].changes, change)
        return
    steps.append(_Draft(time, conn, changes=(change,)))


_TAKEN = (State.SYN_RECEIVED.value, State.ESTABLISHED.value)
PROVED = N_("proved by the capture")  # a Change's note: the model's state, the sampler missed it


def _proofs(
    steps: list[_Draft], upto: int, since: int, conn: str, report: Report
) -> list[tuple[int, str]]:
    """The kernel states the model's agreed predictions for your segments of `conn` put it in,
    between steps `since` and `upto`: (the step beside which each shows, the state)."""
    out: list[tuple[int, str]] = []
    for i in range(since, upto + 1):
        d = steps[i]
        if d.conn != conn or d.seen is None or d.seen.from_kernel:
            continue
        rec = report.predictions.get(id(d.seen))
        if rec is None or rec.agrees is not True:
            continue
        at = i
        nxt = i + 1
        while nxt <= upto and steps[nxt].seen is not None:
            other = steps[nxt].seen
            if other is None or report.predictions.get(id(other)) is not rec:
                break
            at, nxt = nxt, nxt + 1
        state = _name(rec.prediction.place.state, None)
        if not out or out[-1][1] != state:
            out.append((at, state))
    return out


def _same(one: str, other: str) -> bool:
    """The same state for the ladder: no socket of this connection is no socket, listener or not."""
    idle = (NO_SOCKET, State.LISTEN.value)
    return one == other or (one in idle and other in idle)


def _prove(steps: list[_Draft], report: Report) -> None:
    """Where the socket table's sampler missed a state the model proves (its agreed prediction put
    the kernel there between two states the sampler read: time-wait's LISTEN → ESTABLISHED skips
    SYN_RECEIVED), show that state too, beside the answer that proves it (How.MODEL)."""
    since: dict[str, int] = {}
    i = 0
    while i < len(steps):
        d = steps[i]
        ch = next((c for c in d.changes if c.side is Side.KERNEL), None)
        if ch is None or ch.how is not How.OBSERVED:
            i += 1
            continue
        proved = _proofs(steps, i, since.get(d.conn, 0), d.conn, report)
        while proved and _same(proved[0][1], ch.before):
            proved.pop(0)
        while proved and _same(proved[-1][1], ch.after):
            proved.pop()
        since[d.conn] = i + 1
        before = ch.before
        if proved and before == NO_SOCKET and proved[0][1] in _TAKEN:
            before = State.LISTEN.value  # a connection a listener takes, as _name has it
        for at, state in proved:
            if at >= i or any(c.side is Side.KERNEL for c in steps[at].changes):
                break
            new = Change(Side.KERNEL, before, state, How.MODEL, _(PROVED))
            steps[at].changes = (*steps[at].changes, new)
            before = state
        if before != ch.before:
            fixed = Change(ch.side, before, ch.after, ch.how, ch.note)
            d.changes = tuple(fixed if c is ch else c for c in d.changes)
        i += 1
