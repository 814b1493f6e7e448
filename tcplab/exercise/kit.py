"""What a lab's checks.py is written with: the Observation of one run, and a Checklist of checks
with points, an explanation, and a hint shown when the check fails.

Everything in an Observation comes from tcplab's own capture on the kernel host's interface and from
the kernel's socket table, sampled while the solution ran; nothing the solution prints counts. The
model's view comes with it: the checker replays the exchange through tcplab's one TCP model
(tcplab.exercise.replay), so a check asks what the model predicted for a crafted segment
(`ObservedConn.predicted`), what caused a kernel segment (`ObservedConn.explanation`) and which
kernel segment answered a crafted one (`ObservedConn.answer`), instead of re-deriving TCP's rules.
A check judges the student's own numbers itself; what the kernel must do comes from the model.

Judging like a teacher (issue 12): `Checklist(per_connection=True)` scores every connection the
student tried and keeps the best, so other experiments cost nothing; a check returns Pass, Fail (with
the root cause's id) or NotReached, and one whose `needs` failed says "not reached" instead of blaming;
hints come in tiers (where to look, the concept, the formula); every number in feedback is relative to
the right ISN and signed (tcplab.exercise.numbers).

Text for people (issue 15): a lab marks its titles, hints and why with N_ and builds its messages
with _("...").format(...) (both re-exported here); the kit translates the marked texts into each
ScoredCheck, whose `key` keeps the English title for programs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from tcplab.engine.explain import Refused as Refused  # a connect() that failed, the model's word
from tcplab.engine.predicted import Predicted as Predicted  # what the model said, and if it held
from tcplab.engine.seen import Seen as Seen  # labs' checks read segments as Seen
from tcplab.exercise.numbers import Field, Numbers, diagnose, rel_text, signed
from tcplab.i18n import N_ as N_  # labs mark their titles, hints and why with N_ ...
from tcplab.i18n import _ as _  # ... and build their messages with _("...").format()
from tcplab.i18n import ngettext
from tcplab.model.endpoint import Before, Prediction
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.seqnum import signed as signed_diff
from tcplab.model.state import State
from tcplab.model.table import Input, Place
from tcplab.model.text import Text

__all__ = [
    "N_",
    "Before",
    "Checklist",
    "Fail",
    "NotReached",
    "Observation",
    "ObservedConn",
    "Part",
    "Pass",
    "Predicted",
    "Refused",
    "Sample",
    "ScoredCheck",
    "Seen",
    "Visibility",
    "_",
    "rel_text",
    "signed",
]


@dataclass
class Sample:
    time: float
    state: State  # CLOSED when the socket is gone
    timer: str
    expires_ms: int
    rqueue: int
    # when this stretch (time: its first read) was last read, with expires_ms as then; None: not
    # known (older recordings). Tells a timer's deadline even when the stretch outlives the run.
    read: float | None = None


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

    def incarnations(self) -> list[ObservedConn]:
        """This 4-tuple's connections one after another: a SYN (no ACK) begins the next when it
        carries a new ISN, or when the model found no connection there (no socket, a listener,
        TIME_WAIT); a SYN repeating the ISN of a live one is a retransmission. Socket-table
        samples go to the incarnation whose time they fall in."""
        parts: list[ObservedConn] = []
        cur: ObservedConn | None = None
        for s in self.segments:
            seg = s.segment
            fresh = seg.flags & (Flags.SYN | Flags.ACK | Flags.RST) == Flags.SYN
            if cur is not None and fresh:
                mine = cur.irs if s.from_kernel else cur.iss
                before = None if s.from_kernel else self.expected(s)
                gone = before is not None and before.place in _NO_CONNECTION
                fresh = (mine is not None and seg.seq != mine) or gone
            if cur is None or fresh:
                cur = ObservedConn(self.sport, self.kport, predictions=self.predictions)
                parts.append(cur)
            cur.add(s)
        if not parts:
            return [self]
        for i, part in enumerate(parts):
            start = part.segments[0].time if i else float("-inf")
            end = parts[i + 1].segments[0].time if i + 1 < len(parts) else float("inf")
            part.samples = [x for x in self.samples if start <= x.time < end]
        return parts

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
        """seg's seq relative to its sender's ISN, signed (-1, never 4294967295)."""
        base = self.irs if from_kernel else self.iss
        return None if base is None else signed_diff(seg.seq, base)

    def rel_ack(self, seg: Segment, from_kernel: bool) -> int | None:
        """seg's ack relative to the other side's ISN, signed."""
        base = self.iss if from_kernel else self.irs
        return None if base is None else signed_diff(seg.ack, base)

    # -- finding segments ---------------------------------------------------------------------------
    def _index(self, seg: Seen | Segment | None) -> int:
        """Position of `seg` in self.segments (-1 for None: before everything)."""
        if seg is None:
            return -1
        seen = self.seen_of(seg)
        return next((i for i, s in enumerate(self.segments) if s is seen), len(self.segments))

    def _first(
        self, from_kernel: bool, after: Seen | Segment | None, flags: Flags | str | None
    ) -> Seen | None:
        want = Flags.from_letters(flags) if isinstance(flags, str) else flags
        start = self._index(after) + 1
        return next(
            (
                s
                for s in self.segments[start:]
                if s.from_kernel == from_kernel and (want is None or s.segment.flags == want)
            ),
            None,
        )

    def first_crafted(
        self, after: Seen | Segment | None = None, flags: Flags | str | None = None
    ) -> Seen | None:
        """The student's first segment (after `after`, with exactly `flags`), or None."""
        return self._first(False, after, flags)

    def first_kernel(
        self, after: Seen | Segment | None = None, flags: Flags | str | None = None
    ) -> Seen | None:
        """The kernel's first segment (after `after`, with exactly `flags`), or None."""
        return self._first(True, after, flags)

    def crafted_after(self, seg: Seen | Segment | None) -> list[Seen]:
        return [s for s in self.segments[self._index(seg) + 1 :] if not s.from_kernel]

    def kernel_after(self, seg: Seen | Segment | None) -> list[Seen]:
        return [s for s in self.segments[self._index(seg) + 1 :] if s.from_kernel]

    def kernel_synack(self) -> Seen | None:
        """The kernel's first SYN+ACK on this connection."""
        return self.first_kernel(flags=Flags.SYN | Flags.ACK)

    def kernel_fin(self) -> Seen | None:
        """The kernel's first segment carrying FIN on this connection."""
        return next(
            (s for s in self.segments if s.from_kernel and Flags.FIN in s.segment.flags), None
        )

    def after_synack(self, flag: Flags = Flags.ACK) -> list[Seen]:
        """The student's segments after the kernel's first SYN+ACK that carry `flag` and neither
        SYN nor RST (its third segment and later ones: ACKs, data, FINs)."""
        synack = self.kernel_synack()
        if synack is None:
            return []
        plain = Flags.SYN | Flags.RST
        return [
            s
            for s in self.crafted_after(synack)
            if flag in s.segment.flags and not s.segment.flags & plain
        ]

    def taken_or_first(self, segs: Sequence[Seen]) -> Seen | None:
        """The first of `segs` the kernel took, else the first (what a check judges of a step the
        student may have tried more than once)."""
        return next((s for s in segs if self.accepted(s)), segs[0] if segs else None)

    def handshake_ack(self) -> Seen | None:
        """The student's segment that completes the handshake: after the kernel's SYN+ACK, with
        ACK (no SYN or RST); the one the kernel took, else the first."""
        return self.taken_or_first(self.after_synack(Flags.ACK))

    def no_handshake_ack(self) -> str:
        """Why there is no handshake_ack(): no SYN, no SYN+ACK (and the kernel's reaction), or
        what the student sent instead."""
        synack = self.kernel_synack()
        if synack is None:
            syn = self.first_crafted(flags=Flags.SYN)
            if syn is None:
                return _("you sent no SYN to the application's port")
            return _("the kernel did not answer your SYN with SYN+ACK: {reaction}").format(
                reaction=self.reaction(syn)
            )
        other = self.crafted_after(synack)
        if other:
            return _("after the SYN+ACK you sent {segment}, not an ACK").format(
                segment=self.show(other[0])
            )
        return _("you sent nothing after the kernel's SYN+ACK")

    # -- numbers as a student reads them -------------------------------------------------------------
    def seq_text(self, seg: Seen | Segment) -> str:
        """'your ISN+1' (a crafted segment's seq) or "the kernel's ISN+1"."""
        return self._number_text(seg, ack=False)

    def ack_text(self, seg: Seen | Segment) -> str:
        """The ack relative to the other side's ISN: "the kernel's ISN+1" for a crafted segment."""
        return self._number_text(seg, ack=True)

    def _number_text(self, seg: Seen | Segment, ack: bool) -> str:
        seen = self.seen_of(seg)
        s = seen.segment if seen else _segment(seg)
        kernel = bool(seen and seen.from_kernel)
        kernels = kernel != ack  # whose numbers: the sender's for a seq, the other's for an ack
        base, who = (self.irs, "the kernel's") if kernels else (self.iss, "your")
        return rel_text(s.ack if ack else s.seq, base, who)

    def show(self, seg: Seen | Segment) -> str:
        """A segment as feedback shows it: 'FIN+ACK seq your ISN+1 ack the kernel's ISN+2'."""
        seen = self.seen_of(seg)
        s = seen.segment if seen else _segment(seg)
        out = f"{_flag_names(s.flags)} seq {self.seq_text(seg)}"
        if Flags.ACK in s.flags:
            out += f" ack {self.ack_text(seg)}"
        return out + (f" len {len(s.payload)}" if s.payload else "")

    def expected(self, seg: Seen | Segment) -> Before | None:
        """What the kernel's TCB held when this crafted segment arrived (the model's numbers)."""
        rec = self.predicted(seg)
        return None if rec is None else rec.prediction.before

    def input_of(self, seg: Seen | Segment) -> Input | None:
        """The table's class of this crafted segment where it arrived ("pure ACK", ...)."""
        rec = self.predicted(seg)
        return None if rec is None else rec.prediction.input

    def diagnose(self, seg: Seen | Segment, field: str) -> str | None:
        """None when the crafted segment's `field` ("seq" or "ack") is what the kernel expected;
        else one sentence with both numbers (relative, signed) and the confusion recognised."""
        seen = self.seen_of(seg)
        exp = self.expected(seg)
        if seen is None or exp is None:
            return None
        s = seen.segment
        index = self._index(seen)
        mine = next((x for x in reversed(self.segments[:index]) if not x.from_kernel), None)
        theirs = next((x for x in reversed(self.segments[:index]) if x.from_kernel), None)
        nums = Numbers(
            s.seq,
            s.ack,
            exp.rcv_nxt,
            exp.snd_nxt if Flags.ACK in s.flags else None,
            self.iss,
            self.irs,
            _brief(mine),
            _brief(theirs),
        )
        return diagnose(nums, Field(field))

    def accepted(self, seg: Seen | Segment) -> bool:
        """The model says the kernel took this crafted segment (its ack, data or FIN, or it moved
        the connection: a SYN to a listener, a RST in the right place) and the kernel agreed."""
        rec = self.predicted(seg)
        return bool(rec is not None and rec.agrees and rec.prediction.taken)

    def reaction(self, seg: Seen | Segment) -> str:
        """What the kernel did with this crafted segment and why, in the model's words."""
        rec = self.predicted(seg)
        if rec is None:
            return _("tcplab's model has no prediction for it")
        p = rec.prediction
        reply = self.answer(seg)
        why = _case_why(p)
        if reply is not None:
            text = _("the kernel answered with {segment} ({why}; rule {rule})").format(
                segment=self.show(reply), why=why, rule=p.rule
            )
        elif p.silence:
            text = _("the kernel sent nothing ({why}; rule {rule})").format(why=why, rule=p.rule)
        else:
            text = _("the kernel did not answer ({why}; rule {rule})").format(why=why, rule=p.rule)
        return text if rec.agrees is not False else f"{text}; {rec.finding()}"

    def reached(self, state: State) -> bool:
        """The kernel's side reached `state`. The model's path (proved by the capture) is enough;
        the socket table's samples count only where the model does not explain every segment of
        the connection. sock_diag reads a socket's state without its lock, so a sample can catch a
        state the kernel passes *inside* one segment (a FIN+ACK in FIN_WAIT_1 goes through
        FIN_WAIT_2 to TIME_WAIT): no student rested the kernel there, and it is not counted."""
        if state in self.model_states():
            return True
        return not self.model_explains_all() and state in self.states()

    def model_explains_all(self) -> bool:
        """Every segment of this connection has its prediction, and the kernel agreed with each."""
        return bool(self.segments) and all(
            (rec := self.predictions.get(id(s))) is not None and rec.agrees is True
            for s in self.segments
        )

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
            return False, _("tcplab's model has no prediction for this segment")
        p = rec.prediction
        said = _("{segment} (rule {rule})").format(segment=p.text() or _("no segment"), rule=p.rule)
        if rules and p.rule not in rules:
            return False, _("tcplab's model predicts {said}, not {rules}").format(
                said=said, rules=_(" or ").join(rules)
            )
        if not rec.agrees:
            return False, rec.finding()
        return True, _("as tcplab's model predicts: {said}").format(said=said)

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


_NO_CONNECTION = frozenset({Place.NO_SOCKET, Place.LISTEN, Place.TIME_WAIT})


def _case_why(p: Prediction) -> str:
    """The table case's own words for a prediction, in the language shown, up to its first colon
    (without the numbers the model appends: "{why}: seq = ...")."""
    text = p.why_text
    case = dict(text.values).get("why", text) if text.values else text
    shown = case.show(_) if isinstance(case, Text) else str(case)
    return re.split("[:：]", shown, maxsplit=1)[0]


def _text(message: str) -> str:
    """`message` translated; "" stays "" (gettext's "" is the catalog's header)."""
    return _(message) if message else message


def _segment(seg: Seen | Segment) -> Segment:
    return seg.segment if isinstance(seg, Seen) else seg


def _brief(seen: Seen | None) -> tuple[str, int] | None:
    return None if seen is None else (seen.segment.flags.letters, len(seen.segment.payload))


_NAMES = {"S": "SYN", "F": "FIN", "R": "RST", "P": "PSH", "A": "ACK", "U": "URG"}


def _flag_names(flags: Flags) -> str:
    """'SYN+ACK', 'FIN+ACK', 'ACK', 'no flags': how feedback names a segment's flags."""
    names = [_NAMES.get(c, c) for c in flags.letters if c in _NAMES]
    order = ["SYN", "FIN", "RST", "PSH", "URG", "ACK"]
    return "+".join(sorted(names, key=order.index)) or _("no flags")


@dataclass
class Observation:
    conns: list[ObservedConn]
    segments: list[Seen]
    exit_code: int | None
    timed_out: bool
    listener_samples: list[Sample] = field(default_factory=list)
    predictions: dict[int, Predicted] = field(default_factory=dict, repr=False)  # see ObservedConn
    findings: list[str] = field(default_factory=list)  # where the kernel and the model disagreed
    refused: list[Refused] = field(default_factory=list)  # failed connect()s, the model's word
    ports: frozenset[int] = frozenset()  # the lab's listening ports (empty: any)
    ended: float | None = None  # when the program ended (the capture's clock); None: not known

    def __post_init__(self) -> None:
        for c in self.conns:
            c.predictions = self.predictions  # one view, filled in by the checker

    def conn(self, index: int = 0) -> ObservedConn | None:
        """The student's index-th connection, in the order they began (prefer `attempts`)."""
        return self.conns[index] if index < len(self.conns) else None

    def attempts(self, port: int | None = None) -> list[ObservedConn]:
        """The connections on which the student sent something, in the order they began: to
        `port`, or to any of the lab's ports when None."""
        return [
            c
            for c in self.conns
            if c.crafted()
            and (c.kport == port if port is not None else not self.ports or c.kport in self.ports)
        ]

    def conns_with(self, keep: Callable[[ObservedConn], bool]) -> list[ObservedConn]:
        return [c for c in self.conns if keep(c)]

    @staticmethod
    def best(
        conns: Iterable[ObservedConn], score: Callable[[ObservedConn], float]
    ) -> ObservedConn | None:
        """The connection with the highest score (ties: the later one), None for none."""
        found: ObservedConn | None = None
        top = float("-inf")
        for c in conns:
            value = score(c)
            if value >= top:
                found, top = c, value
        return found

    def ran_for(self) -> float | None:
        """Seconds from the program's first segment to its end (what it watched), if known."""
        first = next((s.time for s in self.segments if not s.from_kernel), None)
        return None if first is None or self.ended is None else self.ended - first

    def crafted(self, flags: Flags | str | None = None) -> list[Segment]:
        return [s for c in self.conns for s in c.crafted(flags)]

    def kernel(self, flags: Flags | str | None = None) -> list[Segment]:
        return [s for c in self.conns for s in c.kernel(flags)]


# -- verdicts --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pass:
    detail: str = ""


@dataclass(frozen=True)
class Fail:
    """The check failed; `cause` names its root cause (a failure with the cause of an earlier failed
    check is shown as that one's consequence)."""

    detail: str
    cause: str = ""


@dataclass(frozen=True)
class NotReached:
    """What the check judges never happened (the kernel never got there, or the student did not)."""

    detail: str


Verdict = Pass | Fail | NotReached
Outcome = Pass | Fail | NotReached | bool | tuple[bool, str]
Test = Callable[[Any], Outcome]


class Visibility(str, Enum):
    """Who sees a check's result: everyone (the default), the student only after the due date (in
    Gradescope; elsewhere as hidden), or only the instructor. A hidden check's points still count;
    students see its title replaced by "hidden check" and nothing of what was observed."""

    VISIBLE = "visible"
    AFTER_DUE_DATE = "after_due_date"
    HIDDEN = "hidden"


HIDDEN_TITLE = N_("hidden check")  # a key, like every title: shown as _(HIDDEN_TITLE)


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    NOT_REACHED = "not_reached"  # a check it needs failed: its cause is charged there
    SAME_CAUSE = "same_cause"  # the same root cause as an earlier failed check


@dataclass(frozen=True)
class LabCheck:
    """One check of a lab, as checks.add registers it: its points and the test that earns them."""

    title: str
    points: int
    hints: tuple[str, ...]
    why: str
    test: Test
    needs: tuple[str, ...] = ()
    visibility: Visibility = Visibility.VISIBLE

    @property
    def hint(self) -> str:
        return self.hints[0] if self.hints else ""

    def hint_at(self, level: int) -> str:
        """The hint of tier `level` (1: where to look, 2: the concept, 3: the formula), the last
        one there is when the check has fewer."""
        if not self.hints:
            return ""
        return self.hints[max(1, min(level, len(self.hints))) - 1]


@dataclass
class ScoredCheck:
    """A lab check scored on one run: the points earned, and why (one row of a lab check's result).

    Its texts (title, why, hint, detail) are for people, in the language chosen when the checks ran
    (`lab check --lang`, `grade --lang`): every report shows them as they are. `key` is the check's
    English title, the same in every language: what names the check to programs (needs=..., the
    hint-attempt counters, JUnit names, gradebook columns). Made without a key, the title is it."""

    title: str
    points: int
    earned: int
    ok: bool
    why: str
    hint: str
    detail: str = ""
    status: str = Status.PASS.value
    cause: str = ""
    hint_level: int = 0  # the tier shown (0: none)
    hint_levels: int = 0  # how many tiers the check has
    conn: str = ""  # the connection judged ("40123>7788"), for a per-connection checklist
    visibility: Visibility = Visibility.VISIBLE
    key: str = ""  # the English title (empty: the title itself)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = self.title

    @property
    def shown(self) -> bool:
        """True when students see this check's detail now (not hidden, nor until the due date)."""
        return self.visibility is Visibility.VISIBLE

    def for_students(self) -> ScoredCheck:
        """What a student may see of this check now: itself, or (not shown yet) only that a hidden
        check earned so many points. `lab check` and every file a student gets use this."""
        if self.shown:
            return self
        return ScoredCheck(
            _(HIDDEN_TITLE), self.points, self.earned, self.ok, "", "", status=self.status,
            visibility=self.visibility, key=HIDDEN_TITLE,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The JSON of `lab check --json` and grade.json: its fields as they always were, "title"
        the key (English in every language, as programs read it), the other texts translated."""
        data = asdict(self)
        data["title"] = data.pop("key")
        data["visibility"] = self.visibility.value
        return data


@dataclass
class Judgement:
    """A checklist's results on one observation, and which connection was judged."""

    results: list[ScoredCheck]
    judged: ObservedConn | None = None
    others: int = 0  # other attempts, ignored (a per-connection checklist)

    @property
    def score(self) -> int:
        return sum(r.earned for r in self.results)

    def judged_text(self) -> str:
        if self.judged is None:
            return ""
        ports = {"sport": self.judged.sport, "kport": self.judged.kport}
        if not self.others:
            return _("judged: your connection from port {sport} to {kport}").format(**ports)
        n = self.others
        return ngettext(
            "judged: your connection from port {sport} to {kport}; "
            "{n} other attempt ignored (they cost nothing)",
            "judged: your connection from port {sport} to {kport}; "
            "{n} other attempts ignored (they cost nothing)",
            n,
        ).format(n=n, **ports)


# The names of earlier versions, kept so a course's own checks.py that imports them keeps working.
Conn = ObservedConn
HintLevel = int | Callable[[str], int]  # one tier for all, or per check title


class Checklist:
    """A lab's checks, registered with @checks.add(title, points, hints=(...), why=..., needs=...).

    Title, hints and why are English literals marked with N_ (`checks.add(N_("your ACK ..."), 4,
    hints=(N_("..."),), why=N_("..."))`): the kit translates them where a result is made, and the
    English title stays the check's key (needs=, ScoredCheck.key). A check's own messages are made
    when it runs: `Fail(_("your ack was {n}").format(n=...))`.

    per_connection: each check takes one ObservedConn; every connection the student tried to the
    lab's ports is scored and the best counts. Otherwise each check takes the Observation."""

    def __init__(self, per_connection: bool = False) -> None:
        self.items: list[LabCheck] = []
        self.per_connection = per_connection

    def add(
        self,
        title: str,
        points: int,
        hint: str = "",
        why: str = "",
        *,
        hints: Sequence[str] = (),
        needs: Sequence[str] = (),
        visibility: Visibility | str = Visibility.VISIBLE,
    ) -> Callable[[Test], Test]:
        tiers = tuple(hints) or ((hint,) if hint else ())
        seen_by = _visibility(title, visibility)
        known = {c.title for c in self.items}
        for need in needs:
            if need not in known:
                raise ValueError(f"check {title!r} needs {need!r}, which is not an earlier check")

        def register(fn: Test) -> Test:
            self.items.append(LabCheck(title, points, tiers, why, fn, tuple(needs), seen_by))
            return fn

        return register

    @property
    def max_score(self) -> int:
        return sum(c.points for c in self.items)

    def run(self, obs: Observation, level: HintLevel = 1) -> list[ScoredCheck]:
        return self.judge(obs, level).results

    def judge(self, obs: Observation, level: HintLevel = 1) -> Judgement:
        """Score `obs`: hints of tier `level` (or level(title) per check)."""
        if not self.per_connection:
            return Judgement(self._score(obs, level, ""))
        tried = [part for c in obs.attempts() for part in c.incarnations()]
        tried = [part for part in tried if part.crafted()]
        if not tried:
            empty = ObservedConn(0, 0)
            empty.predictions = obs.predictions
            return Judgement(self._score(empty, level, ""))
        best: Judgement | None = None
        for conn in tried:
            got = Judgement(self._score(conn, level, f"{conn.sport}>{conn.kport}"), conn)
            if best is None or got.score >= best.score:
                best = got
        assert best is not None
        best.others = len(tried) - 1
        return best

    def _score(self, subject: Any, level: HintLevel, conn: str) -> list[ScoredCheck]:
        out: list[ScoredCheck] = []
        failed: dict[str, ScoredCheck] = {}  # title -> result, of checks that did not pass
        causes: dict[str, str] = {}  # cause -> title of the first check failed by it
        for c in self.items:
            verdict = _verdict(c, subject)
            tier = level(c.title) if callable(level) else level
            row = ScoredCheck(
                _text(c.title), c.points, 0, False, _text(c.why), "",
                verdict.detail if verdict else "", conn=conn, hint_levels=len(c.hints),
                visibility=c.visibility, key=c.title,
            )  # fmt: skip
            blocked = next((n for n in c.needs if n in failed), None)
            if isinstance(verdict, Pass):
                row.earned, row.ok, row.status = c.points, True, Status.PASS.value
            elif isinstance(verdict, NotReached) and blocked is not None:
                row.status = Status.NOT_REACHED.value
                row.detail = _("not reached: see ✗ {title} above").format(
                    title=repr(_named(failed[blocked]))
                )
            elif isinstance(verdict, Fail) and verdict.cause and verdict.cause in causes:
                row.status, row.cause = Status.SAME_CAUSE.value, verdict.cause
                row.detail = _("same cause as ✗ {title} above").format(
                    title=repr(_named(failed[causes[verdict.cause]]))
                )
            else:
                row.status = Status.FAIL.value
                row.cause = verdict.cause if isinstance(verdict, Fail) else ""
                row.hint = _text(c.hint_at(tier))
                row.hint_level = min(max(tier, 1), len(c.hints))
                if row.cause:
                    causes.setdefault(row.cause, c.title)
            if not row.ok:
                failed[c.title] = row
            out.append(row)
        return out


ConnTest = Callable[[ObservedConn], Verdict]


class Part:
    """One part of an observation-wide lab, judged on its own best connection: time-wait's close
    and reopen on one port pair, simultaneous's close and its open. Its checks take one
    ObservedConn: the candidate among `candidates(obs)` that they score best (ties: the later one),
    so experiments before, between or after cost nothing. `missing` is the NotReached detail when
    there is no candidate.

        close = Part(checks, lambda obs: obs.attempts(), N_("you opened no connection"))

        @close.add(N_("your FIN's seq is the one the kernel expects"), 2, hints=(...), why=...)
        def fin_seq(conn: ObservedConn) -> Pass | Fail | NotReached: ...
    """

    def __init__(
        self,
        checks: Checklist,
        candidates: Callable[[Observation], Sequence[ObservedConn]],
        missing: str,
    ) -> None:
        self.checks, self.candidates, self.missing = checks, candidates, missing
        self.tests: list[tuple[int, ConnTest]] = []
        self._chosen: tuple[Observation, ObservedConn | None] | None = None

    def add(
        self,
        title: str,
        points: int,
        hint: str = "",
        why: str = "",
        *,
        hints: Sequence[str] = (),
        needs: Sequence[str] = (),
        visibility: Visibility | str = Visibility.VISIBLE,
    ) -> Callable[[ConnTest], ConnTest]:
        def register(fn: ConnTest) -> ConnTest:
            self.tests.append((points, fn))

            def on_observation(obs: Observation) -> Verdict:
                conn = self.chosen(obs)
                return NotReached(_text(self.missing)) if conn is None else fn(conn)

            add = self.checks.add(
                title, points, hint, why, hints=hints, needs=needs, visibility=visibility
            )
            add(on_observation)
            return fn

        return register

    def chosen(self, obs: Observation) -> ObservedConn | None:
        """The candidate this part's checks score best on `obs` (None: there is none)."""
        if self._chosen is None or self._chosen[0] is not obs:
            self._chosen = (obs, obs.best(self.candidates(obs), self._points))
        return self._chosen[1]

    def _points(self, conn: ObservedConn) -> int:
        return sum(points for points, fn in self.tests if isinstance(_verdict_of(fn, conn), Pass))


def _named(row: ScoredCheck) -> str:
    """How another check's detail refers to this one (a hidden check's title is not shown)."""
    return row.title if row.shown else _(HIDDEN_TITLE)


def _visibility(title: str, value: Visibility | str) -> Visibility:
    try:
        return Visibility(value)
    except ValueError:
        known = ", ".join(v.value for v in Visibility)
        raise ValueError(f"check {title!r}: visibility {value!r} is not one of {known}") from None


def _verdict_of(fn: ConnTest, conn: ObservedConn) -> Verdict:
    try:
        return fn(conn)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        return Fail(_("not observed ({error})").format(error=type(exc).__name__))


def _verdict(check: LabCheck, subject: Any) -> Verdict:
    try:
        got = check.test(subject)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        return Fail(_("not observed ({error})").format(error=type(exc).__name__))
    if isinstance(got, (Pass, Fail, NotReached)):
        return got
    ok, detail = got if isinstance(got, tuple) else (bool(got), "")
    return Pass(detail) if ok else Fail(detail)
