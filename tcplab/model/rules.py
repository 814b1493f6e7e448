"""What the kernel must answer to one segment, given the socket the segment meets: a thin layer over
tcplab.model.endpoint and its table (tcplab.model.table), kept for the engine's current callers.

Theory of operation: `expect_answer` builds an `Endpoint` at the context's state with the numbers the
caller knows, lets it receive the segment and turns its `Prediction` into an `Expectation`. Where the
answer depends on a number the caller does not know (the kernel's rcv_nxt or window for a RST on a
synchronized connection, its ISN for an ACK at a request sock) the answer is the explicit "not
predicted", in one place. `classify` and `Situation` remain the coarse names older callers use.

Sources: RFC 9293 §3.10.7 (segment arrives), RFC 5961 (challenge ACKs), Linux net/ipv4/tcp_ipv4.c
(tcp_v4_send_reset), tcp_input.c (tcp_rcv_state_process, tcp_validate_incoming), tcp_minisocks.c.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tcplab.model.endpoint import Endpoint, Prediction
from tcplab.model.flags import Flags
from tcplab.model.notation import SegmentPattern
from tcplab.model.segment import Segment
from tcplab.model.seqnum import seq_add
from tcplab.model.state import State


class Input(str, Enum):
    RST = "RST"
    SYN = "SYN"
    SYN_ACK = "SYN+ACK"
    SYN_FIN = "SYN+FIN"
    ACK = "ACK"
    NO_ACK = "no ACK"


class Situation(str, Enum):
    NO_SOCKET = "no socket (CLOSED)"
    LISTEN = State.LISTEN.value
    SYN_SENT = State.SYN_SENT.value
    SYN_RECEIVED = State.SYN_RECEIVED.value
    SYNCHRONIZED = "synchronized"
    TIME_WAIT = State.TIME_WAIT.value


def classify(seg: Segment) -> Input:
    """The kind of input a segment is, in the order RFC 9293 §3.10.7 checks the bits."""
    f = seg.flags
    if Flags.RST in f:
        return Input.RST
    if Flags.SYN in f:
        if Flags.ACK in f:  # with ACK, SYN+FIN+ACK is answered like any SYN+ACK
            return Input.SYN_ACK
        return Input.SYN_FIN if Flags.FIN in f else Input.SYN
    return Input.ACK if Flags.ACK in f else Input.NO_ACK


@dataclass(frozen=True)
class Context:
    """The socket a segment meets, as far as it is known; None means no socket (CLOSED).

    snd_nxt and rcv_nxt are the kernel's, known when this session made the connection; snd_iss
    likewise for a request sock or SYN_SENT.
    """

    state: State | None
    snd_nxt: int | None = None
    rcv_nxt: int | None = None
    rcv_wnd: int | None = None

    @property
    def situation(self) -> Situation:
        if self.state is None or self.state is State.CLOSED:
            return Situation.NO_SOCKET
        if self.state is State.TIME_WAIT:
            return Situation.TIME_WAIT
        if self.state.synchronized:
            return Situation.SYNCHRONIZED
        return Situation[self.state.name]


@dataclass(frozen=True)
class Expectation:
    """The kernel's predicted answer: silence, or a segment whose None fields may be anything."""

    rule: str
    why: str
    source: str
    silence: bool = False
    flags: Flags | None = None
    seq: int | None = None
    ack: int | None = None
    linux_note: str = ""
    predicted: bool = True

    def pattern(self) -> SegmentPattern | None:
        """The expected segment as a pattern with absolute numbers (None: silence or no prediction)."""
        if not self.predicted or self.silence or self.flags is None:
            return None
        return SegmentPattern(self.flags, seq=self.seq, ack=self.ack)

    def describe(self) -> str:
        if not self.predicted:
            return "no prediction"
        if self.silence:
            return "no reply"
        parts = [(self.flags or Flags(0)).names]
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        if self.ack is not None:
            parts.append(f"ack {self.ack}")
        return " ".join(parts)


def _unpredicted(why: str, source: str = "") -> Expectation:
    return Expectation("unpredicted", why, source, predicted=False)


def _missing(ctx: Context, seg: Segment) -> Expectation | None:
    """The explicit "not predicted" where the answer needs a number the caller does not know."""
    kind = classify(seg)
    source = "RFC 5961 §3.2; RFC 9293 §3.10.7.4 (first check)"
    if kind is Input.RST and ctx.situation is Situation.SYNCHRONIZED:
        if ctx.rcv_nxt is None:
            return _unpredicted(
                "the kernel's rcv_nxt is not known, so the RST's fate is not predicted", source
            )
        if ctx.rcv_wnd is None:
            return _unpredicted(
                "the kernel's receive window is not known, so "
                "whether the RST is in it is not predicted",
                source,
            )
    if kind is Input.ACK and ctx.situation is Situation.SYN_RECEIVED and ctx.snd_nxt is None:
        return _unpredicted(
            "the kernel's ISN is not known, so whether "
            "this ACK acknowledges its SYN is not predicted",
            "RFC 9293 §3.10.7.4",
        )
    return None


def endpoint_for(ctx: Context) -> Endpoint:
    """The endpoint at the context's state, with the numbers the context knows."""
    ep = Endpoint.seen(
        ctx.state, snd_nxt=ctx.snd_nxt, rcv_nxt=ctx.rcv_nxt, rcv_wnd=ctx.rcv_wnd or 65535
    )
    if ctx.snd_nxt is not None and ctx.state in (State.SYN_SENT, State.SYN_RECEIVED):
        ep.iss = seq_add(ctx.snd_nxt, -1)
    return ep


def from_prediction(p: Prediction) -> Expectation:
    """The engine's Expectation of an endpoint's Prediction."""
    if p.pattern is None:
        return Expectation(p.rule, p.why, p.rfc, silence=True, linux_note=p.linux)
    pat = p.pattern
    return Expectation(
        p.rule, p.why, p.rfc, flags=pat.flags, seq=pat.seq, ack=pat.ack, linux_note=p.linux
    )


def expect_answer(ctx: Context, seg: Segment) -> Expectation:
    """The kernel's expected answer to `seg` arriving at the socket described by `ctx`."""
    missing = _missing(ctx, seg)
    if missing is not None:
        return missing
    return from_prediction(endpoint_for(ctx).receive(seg, 0.0))


# every (situation, input) pair has an answer now (the table is total); kept for older callers
ANSWERS: dict[tuple[Situation, Input], object] = {
    (situation, kind): expect_answer for situation in Situation for kind in Input
}
