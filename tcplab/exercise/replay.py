"""A lab check's exchange replayed through tcplab's one TCP model, after the solution ran.

Theory of operation: the kernel host's capture (the segments on the student's connections, in
capture order) and the application's log of the calls it served (tcplab.app.protocol.Event, on the
same clock: time.time()) are merged by time and fed to an Explainer (tcplab.engine.explain) built
with the kernel host's sysctls: listen() makes a listener, accept() takes a connection off its
queue, recv() reads what arrived, connect/shutdown/close/abort are application calls that make the
kernel send. Each crafted segment is predicted (its cause: "your segment 3 (S) from port 40001"),
each kernel segment explained by its own cause — that segment, an application call ("app close() at
+1.234 s") or a timer — and a disagreement becomes a finding, kept with the time it was found.

Pure: no session, no clock; tested without root on recorded exchanges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tcplab.app.protocol import Event
from tcplab.engine.explain import Explainer, Key, key_of
from tcplab.engine.seen import Seen
from tcplab.i18n import _
from tcplab.model.endpoint import Sysctls
from tcplab.model.table import Input


@dataclass
class Replay:
    """The explainer after the replay, and its findings with the time each was found."""

    explainer: Explainer
    findings: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class _Feed:
    ex: Explainer
    t0: float
    now: float = 0.0
    crafted: int = 0
    linger0: set[int] = field(default_factory=set)  # socket ids with SO_LINGER [1, 0]

    def cause_of(self, seen: Seen) -> str:
        self.crafted += 1
        seg = seen.segment
        # English, as drivers keep a cause (the JSON's `cause`); shown through
        # tcplab.engine.words.cause_text, which translates this very shape
        return (
            f"your segment {self.crafted} ({seg.flags.letters or 'no flags'}) from port {seg.sport}"
        )

    def event(self, ev: Event, allowed: Iterable[int] | None) -> None:
        """One call from the application's log, told to the model."""
        if not ev.ok:
            if ev.op == "connect" and ev.peer_port is not None:
                self.ex.refused_connect(ev.peer_port, ev.time, self._cause(ev))
            return
        if ev.op == "listen" and ev.local_port is not None:
            self.ex.listen(ev.local_port, ev.backlog, ev.time, auto_accept=ev.auto)
            return
        if ev.op == "setsockopt" and ev.linger0:
            self.linger0.add(ev.id)
        if ev.local_port is None or ev.peer_port is None:
            return  # a listener's own calls (close) change no connection
        if allowed is not None and ev.peer_port not in allowed:
            return
        key: Key = (ev.peer_port, ev.local_port)
        if ev.op == "accept" and not ev.auto:
            self.ex.accepted(ev.local_port)
        elif ev.op == "recv" and (ev.nbytes or ev.eof):
            self.ex.read(key)
        elif ev.op == "send":
            self.ex.app(key, Input.APP_SEND, ev.time, self._cause(ev), length=ev.nbytes)
        else:
            inp = self._input(ev)
            if inp is not None:
                self.ex.app(key, inp, ev.time, self._cause(ev))

    def _input(self, ev: Event) -> Input | None:
        """The model's input for a call that makes the kernel send (None: no segment)."""
        if ev.op == "connect":
            return Input.APP_CONNECT
        if ev.op == "abort" or (ev.op == "close" and ev.id in self.linger0):
            return Input.APP_ABORT
        if ev.op == "close":
            return Input.APP_CLOSE
        if ev.op == "shutdown" and ev.how in ("wr", "rdwr"):
            return Input.APP_SHUTDOWN
        return None

    def _cause(self, ev: Event) -> str:
        """'app close() at +1.234 s' (from the first segment of the ladder)."""
        return f"app {ev.op}() at {ev.time - self.t0:+.3f} s"


def replay(
    seen: Sequence[Seen],
    events: Sequence[Event],
    sysctls: Sysctls | None = None,
    isns: dict[Key, int | None] | None = None,
    allowed: Iterable[int] | None = None,
    t0: float | None = None,
) -> Replay:
    """Feed `seen` (capture order) and the application's `events` (by time) to a new Explainer.
    `isns`: each connection's crafting-side ISN as the lab kit captured it (the base of the
    relative numbers); `allowed`: the crafting ports whose connections count (None: all); `t0`:
    the time causes are counted from (default: the first segment's, as the ladder's)."""
    start = t0 if t0 is not None else seen[0].time if seen else 0.0
    feed = _Feed(Explainer(sysctls, follow_new=True), start)
    out = Replay(feed.ex)
    feed.ex.note = lambda text: out.findings.append((feed.now, text))
    ports = None if allowed is None else set(allowed)
    for key, iss in (isns or {}).items():
        feed.ex.follow(key, iss)
    pending = sorted(events, key=lambda e: e.time)
    at = 0
    for one in seen:
        if ports is not None and key_of(one)[0] not in ports:
            continue
        while at < len(pending) and pending[at].time <= one.time:
            feed.now = pending[at].time
            feed.event(pending[at], ports)
            at += 1
        feed.now = one.time
        feed.ex.absorb([one], feed.cause_of)
    for ev in pending[at:]:
        feed.now = ev.time
        feed.event(ev, ports)
    feed.ex.close()
    _unexplained(feed.ex, [s for s in seen if ports is None or key_of(s)[0] in ports], out)
    return out


def _unexplained(ex: Explainer, seen: Sequence[Seen], out: Replay) -> None:
    """A kernel segment no cause explains (the model predicted nothing that it sent) is a
    finding too."""
    for one in seen:
        if not one.from_kernel or id(one) in ex.predictions:
            continue
        conn = ex.conns.get(key_of(one))
        shown = conn.shown(one.segment) if conn else one.segment.notation()
        text = _(
            "finding: tcplab's model predicted no segment from the kernel here "
            "(no crafted segment, application call or timer explains it); the kernel sent {segment}"
        ).format(segment=shown)
        ex.findings.append(text)
        out.findings.append((one.time, text))
