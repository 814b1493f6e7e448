"""What a lab's checks.py is written with: the Observation of one run, and a Checklist of checks
with points, an explanation, and a hint shown when the check fails.

Everything in an Observation comes from tcplab's own capture on the kernel host's interface and from
the kernel's socket table, sampled while the solution ran; nothing the solution prints counts. The
model's view comes with it: the checker replays the exchange through tcplab's one TCP model
(tcplab.exercise.replay), so a check asks what the model predicted for a crafted segment
(`ObservedConn.predicted`), what caused a kernel segment (`ObservedConn.explanation`) and which
kernel segment answered a crafted one (`ObservedConn.answer`), instead of re-deriving TCP's rules.
A check judges the student's own numbers itself; what the kernel must do comes from the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tcplab.engine.predicted import Predicted as Predicted  # what the model said, and if it held
from tcplab.engine.seen import Seen as Seen  # labs' checks read segments as Seen
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.seqnum import relative
from tcplab.model.state import State
from tcplab.model.table import Place


@dataclass
class Sample:
    time: float
    state: State  # CLOSED when the socket is gone
    timer: str
    expires_ms: int
    rqueue: int


@dataclass
class ObservedConn:
    """One connection (the crafting host's port, the kernel's port), as the kernel host saw it."""

    sport: int
    kport: int
    segments: list[Seen] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    iss: int | None = None  # the student's ISN, from their SYN (or SYN+ACK)
    irs: int | None = None  # the kernel's ISN, from its SYN or SYN+ACK
    # the model's view, shared with the Observation: id(seen) -> a crafted segment's prediction, or
    # the prediction of the cause that explains a kernel segment
    predictions: dict[int, Predicted] = field(default_factory=dict, repr=False)

    def add(self, seen: Seen) -> None:
        self.segments.append(seen)
        if Flags.SYN in seen.segment.flags:
            if seen.from_kernel and self.irs is None:
                self.irs = seen.segment.seq
            if not seen.from_kernel and self.iss is None:
                self.iss = seen.segment.seq

    def crafted(self, flags: Flags | str | None = None) -> list[Segment]:
        """The student's segments on this connection (optionally with exactly these flags,
        e.g. Flags.SYN | Flags.ACK, or in letters "SA")."""
        return self._segments(False, flags)

    def kernel(self, flags: Flags | str | None = None) -> list[Segment]:
        """The kernel's segments on this connection (optionally with exactly these flags)."""
        return self._segments(True, flags)

    def _segments(self, from_kernel: bool, flags: Flags | str | None) -> list[Segment]:
        want = Flags.from_letters(flags) if isinstance(flags, str) else flags
        return [
            s.segment
            for s in self.segments
            if s.from_kernel == from_kernel and (want is None or s.segment.flags == want)
        ]

    def rel_seq(self, seg: Segment, from_kernel: bool) -> int | None:
        base = self.irs if from_kernel else self.iss
        return None if base is None else relative(seg.seq, base)

    def rel_ack(self, seg: Segment, from_kernel: bool) -> int | None:
        base = self.iss if from_kernel else self.irs
        return None if base is None else relative(seg.ack, base)

    # -- the model's view ---------------------------------------------------------------------------
    def seen_of(self, seg: Seen | Segment) -> Seen | None:
        """The capture's record of `seg` on this connection (a Segment from crafted()/kernel())."""
        if isinstance(seg, Seen):
            return seg if any(s is seg for s in self.segments) else None
        same = next((s for s in self.segments if s.segment is seg), None)
        return same or next((s for s in self.segments if s.segment == seg), None)

    def predicted(self, seg: Seen | Segment) -> Predicted | None:
        """What tcplab's model predicted the kernel does after this crafted segment (its
        `prediction.rule`, `prediction.place`, `prediction.pattern`; `agrees`: the kernel did
        it); None for a kernel segment or one the model was not fed."""
        seen = self.seen_of(seg)
        if seen is None or seen.from_kernel:
            return None
        return self.predictions.get(id(seen))

    def explanation(self, seg: Seen | Segment) -> Predicted | None:
        """The prediction that explains this kernel segment: its own cause (a crafted segment, an
        application call, a timer), with `agrees` False where the kernel did otherwise."""
        seen = self.seen_of(seg)
        if seen is None or not seen.from_kernel:
            return None
        return self.predictions.get(id(seen))

    def answer(self, seg: Seen | Segment) -> Segment | None:
        """The kernel segment the model explains by this crafted segment (its answer), if any."""
        rec = self.predicted(seg)
        if rec is None:
            return None
        return next(
            (
                s.segment
                for s in self.segments
                if s.from_kernel and self.predictions.get(id(s)) is rec
            ),
            None,
        )

    def verdict(self, seg: Seen | Segment, *rules: str) -> tuple[bool, str]:
        """Did the kernel do what tcplab's model predicts for this crafted segment under one of
        `rules` (the table's rule ids, e.g. "rst-exact")? (ok, what the model said and whether
        the kernel agreed): False when the model applied another rule (the student sent something
        else) or the kernel did otherwise (a finding)."""
        rec = self.predicted(seg)
        if rec is None:
            return False, "tcplab's model has no prediction for this segment"
        p = rec.prediction
        said = f"{p.text() or 'no segment'} (rule {p.rule})"
        if rules and p.rule not in rules:
            return False, f"tcplab's model predicts {said}, not {' or '.join(rules)}"
        if not rec.agrees:
            return False, rec.finding()
        return True, f"as tcplab's model predicts: {said}"

    def model_places(self) -> list[Place]:
        """Where tcplab's model puts the kernel's side of this connection after each of its
        predictions here that the kernel agreed with (a crafted segment's, an application
        call's, a timer's), in order: a state the capture proves even when the socket table's
        sampler missed it."""
        out: list[Place] = []
        done: set[int] = set()
        for s in self.segments:
            rec = self.predictions.get(id(s))
            if rec is None or id(rec) in done or not rec.agrees:
                continue
            done.add(id(rec))
            out.append(rec.prediction.place)
        return out

    def model_states(self) -> list[State]:
        """model_places as the states a student sees (a request sock is SYN_RECEIVED, no socket
        is CLOSED), each once per stretch."""
        out: list[State] = []
        for place in self.model_places():
            if not out or out[-1] != place.state:
                out.append(place.state)
        return out

    def states(self) -> list[State]:
        """The kernel's states for this connection, in order, each once per stretch."""
        out: list[State] = []
        for s in self.samples:
            if not out or out[-1] != s.state:
                out.append(s.state)
        return out

    def last(self, state: State) -> Sample | None:
        return next((s for s in reversed(self.samples) if s.state == state), None)


@dataclass
class Observation:
    conns: list[ObservedConn]
    segments: list[Seen]
    exit_code: int | None
    timed_out: bool
    listener_samples: list[Sample] = field(default_factory=list)
    predictions: dict[int, Predicted] = field(default_factory=dict, repr=False)  # see ObservedConn
    findings: list[str] = field(default_factory=list)  # where the kernel and the model disagreed

    def __post_init__(self) -> None:
        for c in self.conns:
            c.predictions = self.predictions  # one view, filled in by the checker

    def conn(self, index: int = 0) -> ObservedConn | None:
        """The student's index-th connection, in the order they began."""
        return self.conns[index] if index < len(self.conns) else None

    def crafted(self, flags: Flags | str | None = None) -> list[Segment]:
        return [s for c in self.conns for s in c.crafted(flags)]

    def kernel(self, flags: Flags | str | None = None) -> list[Segment]:
        return [s for c in self.conns for s in c.kernel(flags)]


@dataclass(frozen=True)
class LabCheck:
    """One check of a lab, as checks.add registers it: its points and the test that earns them."""

    title: str
    points: int
    hint: str
    why: str
    test: Callable[[Observation], bool | tuple[bool, str]]


@dataclass
class ScoredCheck:
    """A lab check scored on one run: the points earned, and why (one row of a lab check's result)."""

    title: str
    points: int
    earned: int
    ok: bool
    why: str
    hint: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# The names of earlier versions, kept so a course's own checks.py that imports them keeps working.
Conn = ObservedConn


class Checklist:
    """A lab's checks, registered with @checks.add(title, points, hint=..., why=...)."""

    def __init__(self) -> None:
        self.items: list[LabCheck] = []

    def add(
        self, title: str, points: int, hint: str, why: str = ""
    ) -> Callable[
        [Callable[[Observation], bool | tuple[bool, str]]],
        Callable[[Observation], bool | tuple[bool, str]],
    ]:
        def register(
            fn: Callable[[Observation], bool | tuple[bool, str]],
        ) -> Callable[[Observation], bool | tuple[bool, str]]:
            self.items.append(LabCheck(title, points, hint, why, fn))
            return fn

        return register

    @property
    def max_score(self) -> int:
        return sum(c.points for c in self.items)

    def run(self, obs: Observation) -> list[ScoredCheck]:
        out = []
        for c in self.items:
            try:
                got = c.test(obs)
            except (AttributeError, IndexError, KeyError, TypeError) as exc:
                got = (False, f"not observed ({type(exc).__name__})")
            ok, detail = got if isinstance(got, tuple) else (bool(got), "")
            out.append(
                ScoredCheck(
                    c.title,
                    c.points,
                    c.points if ok else 0,
                    ok,
                    c.why,
                    "" if ok else c.hint,
                    detail,
                )
            )
        return out
