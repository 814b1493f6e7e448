"""What the kernel must answer to one segment, given the socket the segment meets.

Theory of operation: a segment is first classified (RST, SYN, SYN+ACK, SYN+FIN, ACK, no ACK); the socket
it meets is reduced to a situation (no socket, LISTEN, SYN_SENT, SYN_RECEIVED, synchronized, TIME_WAIT).
ANSWERS maps (situation, input) to one function that builds the expected answer, each carrying its RFC
section and, where Linux departs from the RFC, a note the student sees. Any pair not in the table gets
the explicit "unpredicted" answer from `expect_answer`, in one place.

Sources: RFC 9293 §3.10.7 (segment arrives), RFC 5961 (challenge ACKs), Linux net/ipv4/tcp_ipv4.c
(tcp_v4_send_reset), tcp_input.c (tcp_rcv_state_process, tcp_validate_incoming), tcp_minisocks.c.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from tcplab.model.flags import Flags
from tcplab.model.notation import SegmentPattern
from tcplab.model.segment import Segment
from tcplab.model.seqnum import seq_add, seq_in_window
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


Answer = Callable[[Context, Segment], Expectation]


def _silence(rule: str, why: str, source: str, note: str = "") -> Answer:
    return lambda ctx, seg: Expectation(rule, why, source, silence=True, linux_note=note)


def _reset_from_ack(rule: str, source: str) -> Answer:
    def answer(ctx: Context, seg: Segment) -> Expectation:
        why = (
            f"a segment with ACK that no connection expects is answered with RST, seq = its ack "
            f"({seg.ack}) and no ACK flag, so the sender's own check accepts it"
        )
        return Expectation(rule, why, source, flags=Flags.RST, seq=seg.ack)

    return answer


def _closed_reset(ctx: Context, seg: Segment) -> Expectation:
    ack = seq_add(seg.seq, seg.seg_len)
    why = (
        f"no socket owns this port, and a segment without ACK is answered with RST+ACK, seq 0, "
        f"ack = seq + length = {seg.seq} + {seg.seg_len} = {ack} (a SYN or FIN counts one)"
    )
    return Expectation(
        "closed-port-no-ack",
        why,
        "RFC 9293 §3.10.7.1; Linux tcp_v4_send_reset",
        flags=Flags.RST | Flags.ACK,
        seq=0,
        ack=ack,
    )


def _listen_syn(ctx: Context, seg: Segment) -> Expectation:
    ack = seq_add(seg.seq, 1)
    why = (
        f"a listener answers a SYN with SYN+ACK: the kernel's own ISN as seq, and ack = the SYN's "
        f"seq + 1 = {ack}, because the SYN occupies one sequence number"
    )
    return Expectation(
        "listen-syn", why, "RFC 9293 §3.10.7.2", flags=Flags.SYN | Flags.ACK, ack=ack
    )


def _synsent_syn_ack(ctx: Context, seg: Segment) -> Expectation:
    source = "RFC 9293 §3.10.7.3"
    if ctx.snd_nxt is not None and seg.ack != ctx.snd_nxt:
        why = (
            f"the SYN+ACK acknowledges {seg.ack}, not the kernel's ISN + 1 = {ctx.snd_nxt}: an old "
            "duplicate, so the kernel resets it with seq = its ack and stays in SYN_SENT"
        )
        return Expectation("syn-sent-bad-ack", why, source, flags=Flags.RST, seq=seg.ack)
    why = "an acceptable SYN+ACK completes the kernel's active open: it answers ACK"
    ack = seq_add(seg.seq, 1)
    return Expectation("syn-sent-syn-ack", why, source, flags=Flags.ACK, seq=ctx.snd_nxt, ack=ack)


def _synsent_syn(ctx: Context, seg: Segment) -> Expectation:
    why = "a SYN while the kernel's own SYN is out is a simultaneous open: it answers SYN+ACK"
    return Expectation(
        "simultaneous-open",
        why,
        "RFC 9293 §3.10.7.3",
        flags=Flags.SYN | Flags.ACK,
        seq=None if ctx.snd_nxt is None else seq_add(ctx.snd_nxt, -1),
        ack=seq_add(seg.seq, 1),
    )


def _synsent_ack(ctx: Context, seg: Segment) -> Expectation:
    if ctx.snd_nxt is not None and seg.ack == ctx.snd_nxt:
        return Expectation(
            "syn-sent-ack-no-syn",
            "an acceptable ACK without SYN in SYN_SENT is dropped",
            "RFC 9293 §3.10.7.3 (fifth check)",
            silence=True,
        )
    return _reset_from_ack("syn-sent-bad-ack", "RFC 9293 §3.10.7.3")(ctx, seg)


def _synrecv_ack(ctx: Context, seg: Segment) -> Expectation:
    if ctx.snd_nxt is None:
        return Expectation(
            "syn-received-ack-unknown",
            "the kernel's ISN is not known, so whether "
            "this ACK acknowledges its SYN is not predicted",
            "RFC 9293 §3.10.7.4",
            predicted=False,
        )
    if seg.ack == ctx.snd_nxt:
        if seg.payload or Flags.FIN in seg.flags:
            end = seq_add(seg.seq, seg.seg_len)
            why = (
                f"the ACK completes the handshake and the {len(seg.payload)} bytes it carries are "
                f"accepted: the kernel acknowledges them, ack = seq + length = {end}"
            )
            return Expectation(
                "syn-received-ack-data",
                why,
                "RFC 9293 §3.10.7.4 (fifth and seventh checks)",
                flags=Flags.ACK,
                seq=ctx.snd_nxt,
                ack=end,
                linux_note="Linux may delay this ACK by a few milliseconds (delayed ACK)",
            )
        why = "the ACK of the kernel's SYN completes the handshake: nothing is sent back"
        return Expectation("syn-received-ack", why, "RFC 9293 §3.10.7.4", silence=True)
    why = f"the ACK acknowledges {seg.ack}, not the kernel's ISN + 1 = {ctx.snd_nxt}: RST, seq = its ack"
    return Expectation(
        "syn-received-bad-ack",
        why,
        "RFC 9293 §3.10.7.4; Linux tcp_check_req",
        flags=Flags.RST,
        seq=seg.ack,
    )


def _challenge_ack(rule: str, what: str, source: str) -> Answer:
    def answer(ctx: Context, seg: Segment) -> Expectation:
        why = (
            f"{what} on a synchronized connection gets a challenge ACK (seq = snd_nxt, "
            "ack = rcv_nxt): if the peer really restarted, it answers with an exact RST"
        )
        note = (
            "Linux rate-limits challenge ACKs per socket (tcp_invalid_ratelimit, 500 ms): a second "
            "probe within that time gets no reply"
        )
        return Expectation(
            rule,
            why,
            source,
            flags=Flags.ACK,
            seq=ctx.snd_nxt,
            ack=ctx.rcv_nxt,
            linux_note=note,
        )

    return answer


def _synchronized_rst(ctx: Context, seg: Segment) -> Expectation:
    source = "RFC 5961 §3.2; RFC 9293 §3.10.7.4 (first check)"
    if ctx.rcv_nxt is None:
        return Expectation(
            "rst-unknown-window",
            "the kernel's rcv_nxt is not known, so the RST's fate is not predicted",
            source,
            predicted=False,
        )
    if seg.seq == ctx.rcv_nxt:
        why = f"a RST with seq = rcv_nxt ({ctx.rcv_nxt}) exactly resets the connection, silently"
        return Expectation("rst-exact", why, source, silence=True)
    after_fin = ctx.state in (State.CLOSE_WAIT, State.LAST_ACK, State.CLOSING)
    if after_fin and seg.seq == seq_add(ctx.rcv_nxt, -1):
        why = "after the peer's FIN, a RST at rcv_nxt - 1 (the FIN's own number) also resets"
        return Expectation(
            "rst-exact-after-fin",
            why,
            source,
            silence=True,
            linux_note="Linux accepts this RST although RFC 5961 asks for rcv_nxt "
            "exactly: a peer may not count its own FIN (tcp_reset_check)",
        )
    if ctx.rcv_wnd is None:
        return Expectation(
            "rst-unknown-window",
            "the kernel's receive window is not known, so "
            "whether the RST is in it is not predicted",
            source,
            predicted=False,
        )
    if seq_in_window(seg.seq, ctx.rcv_nxt, ctx.rcv_wnd):
        return _challenge_ack(
            "rst-in-window", "a RST inside the window but not at rcv_nxt", source
        )(ctx, seg)
    why = "a RST outside the receive window is dropped silently"
    return Expectation("rst-out-of-window", why, source, silence=True)


ANSWERS: dict[tuple[Situation, Input], Answer] = {
    (Situation.NO_SOCKET, Input.RST): _silence(
        "closed-port-rst", "a RST is never answered", "RFC 9293 §3.10.7.1"
    ),
    (Situation.NO_SOCKET, Input.ACK): _reset_from_ack("closed-port-ack", "RFC 9293 §3.10.7.1"),
    (Situation.NO_SOCKET, Input.SYN_ACK): _reset_from_ack("closed-port-ack", "RFC 9293 §3.10.7.1"),
    (Situation.NO_SOCKET, Input.SYN): _closed_reset,
    (Situation.NO_SOCKET, Input.SYN_FIN): _closed_reset,
    (Situation.NO_SOCKET, Input.NO_ACK): _closed_reset,
    (Situation.LISTEN, Input.RST): _silence(
        "listen-rst",
        "a listener ignores a RST: there is no connection to reset",
        "RFC 9293 §3.10.7.2",
    ),
    (Situation.LISTEN, Input.ACK): _reset_from_ack("listen-ack", "RFC 9293 §3.10.7.2"),
    (Situation.LISTEN, Input.SYN_ACK): _reset_from_ack("listen-ack", "RFC 9293 §3.10.7.2"),
    (Situation.LISTEN, Input.SYN): _listen_syn,
    (Situation.LISTEN, Input.SYN_FIN): _silence(
        "listen-syn-fin",
        "Linux drops a SYN+FIN at a listener",
        "Linux tcp_rcv_state_process",
        note="RFC 9293 would answer the SYN and ignore the FIN; Linux discards SYN+FIN, a "
        "combination no real stack sends, as scanners use it",
    ),
    (Situation.LISTEN, Input.NO_ACK): _silence(
        "listen-no-ack",
        "a listener drops a segment with neither SYN, ACK nor RST",
        "RFC 9293 §3.10.7.2 (fourth check)",
    ),
    (Situation.SYN_SENT, Input.SYN_ACK): _synsent_syn_ack,
    (Situation.SYN_SENT, Input.SYN): _synsent_syn,
    (Situation.SYN_SENT, Input.ACK): _synsent_ack,
    (Situation.SYN_SENT, Input.NO_ACK): _silence(
        "syn-sent-no-ack",
        "in SYN_SENT a segment with neither SYN nor RST is dropped",
        "RFC 9293 §3.10.7.3 (fifth check)",
    ),
    (Situation.SYN_RECEIVED, Input.ACK): _synrecv_ack,
    (Situation.SYNCHRONIZED, Input.SYN): _challenge_ack(
        "syn-challenge-ack", "a SYN", "RFC 5961 §4.2; RFC 9293 §3.10.7.4 (fourth check)"
    ),
    (Situation.SYNCHRONIZED, Input.SYN_ACK): _challenge_ack(
        "syn-challenge-ack", "a SYN+ACK", "RFC 5961 §4.2; RFC 9293 §3.10.7.4 (fourth check)"
    ),
    (Situation.SYNCHRONIZED, Input.RST): _synchronized_rst,
    (Situation.SYNCHRONIZED, Input.NO_ACK): _silence(
        "synchronized-no-ack",
        "a segment without ACK on a synchronized connection is dropped",
        "RFC 9293 §3.10.7.4 (fifth check)",
    ),
    (Situation.TIME_WAIT, Input.RST): _silence(
        "time-wait-rst",
        "a RST is never answered (with seq = rcv_nxt it ends TIME_WAIT early)",
        "RFC 9293 §3.10.7.4; RFC 1337",
        note="Linux lets an exact RST kill TIME_WAIT unless net.ipv4.tcp_rfc1337 = 1",
    ),
}


def expect_answer(ctx: Context, seg: Segment) -> Expectation:
    """The kernel's expected answer to `seg` arriving at the socket described by `ctx`."""
    situation = ctx.situation
    kind = classify(seg)
    answer = ANSWERS.get((situation, kind))
    if answer is None:
        why = f"tcplab has no rule for {kind.value} in {situation.value}; whatever comes is shown"
        return Expectation("unpredicted", why, "", predicted=False)
    return answer(ctx, seg)
