"""Every kernel segment of an exchange explained by its own cause, from tcplab's one TCP model.

Theory of operation: an `Explainer` follows connections, each with one model Endpoint
(tcplab.model.endpoint) for the kernel's side. It is fed what was captured, in capture order —
live, as a driver sends (the scenario runner, `send`, `handshake`), or afterwards, replaying a
recorded exchange (`lab check`) — and the application's calls with their times. A crafted segment is
received by the endpoint: its prediction is kept open with its cause ("line 12: send", "your
segment 3"). The timers due by a capture time are fired, and what they make the kernel send is
kept open with the timer as its cause. A kernel segment is explained by the open prediction it
matches, else by the oldest open one (which then disagrees: a finding), never by a prediction of
another cause. A predicted silence holds until the connection's next crafted segment.

Pure (no session, no clock): times are capture times, passed in. A connection's listener queues are
shared by the connections to the same port.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from tcplab.engine.predicted import Predicted
from tcplab.engine.seen import Seen
from tcplab.engine.words import cause_text, why_text
from tcplab.i18n import _
from tcplab.model.endpoint import Endpoint, Prediction, Sysctls
from tcplab.model.flags import Flags
from tcplab.model.notation import format_segment
from tcplab.model.segment import Segment
from tcplab.model.table import Input, Place

_P = TypeVar("_P")
# s: a kernel timer's segment may be captured this much before the model's deadline
TIMER_SLACK = 0.1
# s: a kernel timer's segment captured later than this after the model's deadline is late (a finding)
TIMER_LATE = 0.25

Key = tuple[int, int]  # (the crafting host's port, the kernel host's port)


@dataclass
class Followed:
    """One connection the model follows: the kernel side's endpoint and its open predictions."""

    key: Key
    endpoint: Endpoint
    iss: int | None = None  # the crafting side's first ISN: the base of its relative numbers
    irs: int | None = None  # the kernel's first ISN: the base of its relative numbers
    open: list[Predicted] = field(default_factory=list)  # not yet decided

    def shown(self, seg: Segment) -> str:
        """The segment in tcpdump style, numbers relative to the right ISN."""
        return format_segment(seg, self.irs, self.iss)


@dataclass(frozen=True)
class Refused:
    """A connect() that failed, and the model's word on it: asked of the connection to that
    crafting port the kernel holds in TIME_WAIT (None: the model follows none there)."""

    time: float
    port: int  # the crafting host's port connect() aimed at
    prediction: Prediction | None


@dataclass
class _Listener:
    backlog: int
    auto_accept: bool = False
    syn_queue: int = 0
    accept_queue: int = 0


def key_of(seen: Seen) -> Key:
    seg = seen.segment
    return (seg.dport, seg.sport) if seen.from_kernel else (seg.sport, seg.dport)


class Explainer:
    def __init__(
        self,
        sysctls: Sysctls | None = None,
        note: Callable[[str], None] | None = None,
        follow_new: bool = False,
    ) -> None:
        """`note` is told each finding ("tcplab's model predicted X …; the kernel did Y");
        `follow_new`: a crafted segment on a connection not followed yet starts following it
        (replaying a student's exchange), else it is ignored (a driver follows its own)."""
        self.sysctls = sysctls or Sysctls()
        self.note = note or (lambda _text: None)
        self.follow_new = follow_new
        self.conns: dict[Key, Followed] = {}
        self.listeners: dict[int, _Listener] = {}
        self.predictions: dict[int, Predicted] = {}  # id(seen) -> what explains it
        self.findings: list[str] = []
        self.refused: list[Refused] = []  # connect() calls that failed, with the model's word

    # ---- connections and the listener ----

    def follow(
        self, key: Key, iss: int | None = None, endpoint: Endpoint | None = None
    ) -> Followed:
        """Start following a connection (idempotent); a new one starts at the kernel port's
        listener if it has one, else with no socket."""
        conn = self.conns.get(key)
        if conn is None:
            ep = endpoint or Endpoint(sysctls=self.sysctls)
            lis = self.listeners.get(key[1])
            if endpoint is None and lis is not None:
                ep.place, ep.listener, ep.backlog = Place.LISTEN, True, lis.backlog
            conn = self.conns[key] = Followed(key, ep, iss)
        elif iss is not None and conn.iss is None:
            conn.iss = iss
        return conn

    def moved(self, old: Key, new: Key) -> None:
        """The connection followed as `old` has the ports `new` (a connect() picked the kernel's)."""
        conn = self.conns.pop(old, None)
        if conn is not None:
            conn.key = new
            self.conns[new] = conn

    def listen(self, port: int, backlog: int, now: float, auto_accept: bool = False) -> None:
        """The application listens on `port`: connections to it not yet open start there."""
        self.listeners[port] = _Listener(backlog, auto_accept)
        for conn in self.conns.values():
            if conn.key[1] != port:
                continue
            ep = conn.endpoint
            ep.listener, ep.backlog = True, backlog
            if ep.place is Place.NO_SOCKET:
                ep.call(Input.APP_LISTEN, now)

    def unlisten(self, port: int) -> None:
        """The application closed the listener: a SYN into TIME_WAIT no longer finds one."""
        self.listeners.pop(port, None)
        for conn in self.conns.values():
            if conn.key[1] == port:
                conn.endpoint.listener = False

    def accepted(self, port: int) -> None:
        """The application accepted a connection: one fewer in the port's accept queue."""
        lis = self.listeners.get(port)
        if lis is not None:
            lis.accept_queue = max(0, lis.accept_queue - 1)

    # ---- what happened ----

    def app(self, key: Key, inp: Input, now: float, cause: str, length: int = 0) -> list[Predicted]:
        """An application call on the connection that may make the kernel send (Input.APP_*;
        APP_SEND with the bytes written): what it makes the kernel send is open until seen."""
        conn = self.follow(key)
        if inp is Input.APP_SEND:
            preds = self._model(conn, lambda ep: ep.send(length, now))
        else:
            preds = [self._model(conn, lambda ep: ep.call(inp, now))]
        recs = [Predicted(p, cause, now) for p in preds if not p.silence]
        conn.open += recs
        return recs

    def refused_connect(self, port: int, now: float, cause: str) -> Refused:
        """connect() to the crafting `port` failed (EADDRNOTAVAIL: no 4-tuple free): asked of a
        copy of the kernel's outgoing connection to that port in TIME_WAIT (not one on a
        listener's port, which connect() never uses), so nothing changes. If the model
        would have sent a SYN there, that is a finding."""
        tw = [
            c
            for k, c in self.conns.items()
            if k[0] == port and k[1] not in self.listeners and c.endpoint.place is Place.TIME_WAIT
        ]
        pred = copy.deepcopy(tw[-1].endpoint).call(Input.APP_CONNECT, now) if tw else None
        out = Refused(now, port, pred)
        self.refused.append(out)
        if pred is not None and not pred.silence:
            text = _(
                "finding: {cause} failed, but tcplab's model predicted {predicted} ({rule}: {why})"
            ).format(
                cause=cause_text(cause),
                predicted=pred.text(),
                rule=pred.rule,
                why=why_text(pred),
            )
            self.findings.append(text)
            self.note(text)
        return out

    def read(self, key: Key) -> None:
        """The application read everything the connection received."""
        self.follow(key).endpoint.read()

    def absorb(self, new: Iterable[Seen], cause_of: Callable[[Seen], str] | None = None) -> None:
        """Segments captured since the last call, in capture order: a crafted one is received and
        predicted (its cause named by `cause_of`), a kernel one explained by its own cause."""
        for seen in new:
            conn = self.conns.get(key_of(seen))
            if conn is None and self.follow_new and not seen.from_kernel:
                conn = self.follow(key_of(seen), seen.segment.seq)
            if conn is None:
                continue
            if seen.from_kernel:
                self._timers(conn, seen.time + TIMER_SLACK)
                self._explain(conn, seen)
            else:
                self._timers(conn, seen.time)
                cause = cause_of(seen) if cause_of else "a crafted segment"
                self._receive(conn, seen, cause)

    def _receive(self, conn: Followed, seen: Seen, cause: str) -> None:
        for p in conn.open:  # no kernel segment came between: a predicted silence held
            if p.crafted and p.silence:
                self._decide(conn, p, True, "nothing")
        conn.open = [p for p in conn.open if p.agrees is None]
        if conn.iss is None:
            conn.iss = seen.segment.seq
        pred = self._model(conn, lambda ep: ep.receive(seen.segment, seen.time, seen.checksum_ok))
        rec = Predicted(pred, cause, seen.time, crafted=True)
        conn.open.append(rec)
        self.predictions[id(seen)] = rec

    def _explain(self, conn: Followed, seen: Seen) -> None:
        seg = seen.segment
        if conn.irs is None and Flags.SYN in seg.flags:
            conn.irs = seg.seq
        shown = conn.shown(seg)
        due = [p for p in conn.open if p.time <= seen.time + TIMER_SLACK]
        rec = next((p for p in due if not p.silence and p.matches(seg)), None)
        late = 0.0 if rec is None or not rec.cause.startswith("timer") else seen.time - rec.time
        if rec is not None and late > TIMER_LATE:
            late_text = _("{segment} {late} s after the model's deadline").format(
                segment=shown, late=f"{late:.2f}"
            )
            self._decide(conn, rec, False, late_text)
            self._finding(rec)
        elif rec is not None:
            self._decide(conn, rec, True, shown)
            if rec.cause.startswith("timer"):
                conn.endpoint.timer_seen(rec.time, seen.time)
        else:
            rec = next((p for p in due if not p.silence), None) or next(iter(due), None)
            if rec is not None:
                self._decide(conn, rec, False, shown)
                self._finding(rec)
        conn.open = [p for p in conn.open if p is not rec]
        conn.endpoint.observe(seg)
        if rec is not None:
            self.predictions[id(seen)] = rec

    def _timers(self, conn: Followed, now: float) -> None:
        """The connection's timers due at `now`: what they make the kernel send is open."""
        for _attempt in range(16):
            deadline = conn.endpoint.deadline
            pred = self._model(conn, lambda ep: ep.fire(now))
            if pred is None:
                return
            if not pred.silence:  # kept with the time it was due, not the time it was fired
                due = now if deadline is None else min(deadline, now)
                conn.open.append(Predicted(pred, pred.cause, due))

    def _model(self, conn: Followed, act: Callable[[Endpoint], _P]) -> _P:
        """`act` on the endpoint with its listener's queues, which its port's connections share."""
        ep = conn.endpoint
        lis = self.listeners.get(conn.key[1])
        if lis is not None:
            ep.syn_queue, ep.accept_queue = lis.syn_queue, lis.accept_queue
        out = act(ep)
        if lis is not None:
            lis.syn_queue = ep.syn_queue
            lis.accept_queue = 0 if lis.auto_accept else ep.accept_queue
        return out

    @staticmethod
    def _decide(conn: Followed, rec: Predicted, agrees: bool, observed: str) -> None:
        rec.isns = (conn.irs, conn.iss)  # its numbers shown relative to the ISNs known by now
        rec.decide(agrees, observed)

    def _finding(self, rec: Predicted) -> None:
        text = _("finding: {finding}").format(finding=rec.finding())
        self.findings.append(text)
        self.note(text)

    # ---- what a driver asks ----

    def due(self, key: Key, now: float) -> Predicted | None:
        """The oldest open prediction of a segment on the connection whose cause has happened."""
        conn = self.conns.get(key)
        if conn is None:
            return None
        return next((p for p in conn.open if not p.silence and p.time <= now), None)

    def silence(self, key: Key, seen: Seen | None, now: float) -> Predicted | None:
        """What the model said of a silence a driver waited for: what explains the segment the
        kernel sent instead (`seen`), a segment it predicted and the kernel did not send (a
        finding), or the predicted silence of the last crafted segment (it held)."""
        if seen is not None:
            return self.predictions.get(id(seen))
        conn = self.conns.get(key)
        if conn is None:
            return None
        due = self.due(key, now)
        if due is not None:
            self._decide(conn, due, False, "nothing")
            self._finding(due)
            conn.open.remove(due)
            return due
        rec = next((p for p in reversed(conn.open) if p.crafted and p.silence), None)
        if rec is not None:
            self._decide(conn, rec, True, "nothing")
            conn.open.remove(rec)
        return rec

    def close(self) -> None:
        """At the end: a predicted silence held; a predicted segment that never came (other than a
        timer's, which may be due later) is a finding."""
        for conn in self.conns.values():
            for p in conn.open:
                if p.silence:
                    self._decide(conn, p, True, "nothing")
                elif not p.cause.startswith("timer"):
                    self._decide(conn, p, False, "nothing")
                    self._finding(p)
            conn.open = []

    def crafted(self) -> list[Predicted]:
        """The predictions of crafted segments, in the order they were made."""
        return [p for p in self.predictions.values() if p.crafted]
