"""Checks for lab 6 (simultaneous close and simultaneous open), on what the kernel host saw.

Two parts on two connections: the close on a connection you open to the application's port, the
open on a connection the application opens to you (lab.app_connect). Each part is judged on its best
candidate (kit.Part; ties: the later one), so experiments before, between or after cost nothing.

Numbers are judged against what the kernel's TCB held when each segment arrived (tcplab's model:
conn.diagnose / conn.accepted), and where the kernel went is the model's rule for your segment,
which the kernel must have followed: CLOSING ("simultaneous-close") and SYN_RECEIVED
("simultaneous-open") count even when they were too short for the socket table.
"""

from __future__ import annotations

from tcplab.exercise.kit import (
    Checklist,
    Fail,
    NotReached,
    Observation,
    ObservedConn,
    Part,
    Pass,
    Seen,
)
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()

Verdict = Pass | Fail | NotReached


def _close_candidates(obs: Observation) -> list[ObservedConn]:
    """Each connection you opened to the application's port (each incarnation on its own)."""
    parts = [part for c in obs.attempts() for part in c.incarnations()]
    return [p for p in parts if p.crafted() and p.segments[0].segment.flags == Flags.SYN]


def _open_candidates(obs: Observation) -> list[ObservedConn]:
    """Each connection the application opened to you: the kernel's SYN came first."""
    return obs.conns_with(
        lambda c: bool(c.segments) and c.segments[0].from_kernel and bool(c.kernel(Flags.SYN))
    )


CLOSE = Part(checks, _close_candidates, "you opened no connection to the application's port")
OPEN = Part(
    checks,
    _open_candidates,
    "the kernel's application never connected to you: call lab.app_connect(port)",
)


def _path(conn: ObservedConn) -> str:
    seen = conn.model_states() or conn.states()
    return " -> ".join(s.value for s in seen) or "no socket seen"


def _rule(conn: ObservedConn, seg: Seen) -> str:
    rec = conn.predicted(seg)
    return "" if rec is None else rec.prediction.rule


def _agrees(conn: ObservedConn, seg: Seen) -> bool:
    rec = conn.predicted(seg)
    return bool(rec is not None and rec.agrees)


# -- part 1: simultaneous close --------------------------------------------------------------------
def _fin(conn: ObservedConn) -> Seen | None:
    """Your first FIN on this connection."""
    return next(
        (s for s in conn.segments if not s.from_kernel and Flags.FIN in s.segment.flags), None
    )


def _last_ack(conn: ObservedConn) -> Seen | None:
    """Your bare ACK after your FIN: the one the kernel took, else your first."""
    acks = [
        s
        for s in conn.crafted_after(_fin(conn))
        if s.segment.flags == Flags.ACK and not s.segment.payload
    ]
    return next((a for a in acks if conn.accepted(a)), acks[0] if acks else None)


FIN_SEQ = "your FIN's seq is the one the kernel expects"
CROSSING = "your FIN crosses the kernel's: CLOSING"
LAST_ACK = "your last ACK acknowledges the kernel's FIN"
CLOSE_TIME_WAIT = "the kernel ends in TIME_WAIT"


@CLOSE.add(
    FIN_SEQ,
    2,
    hints=(
        "compare your FIN's seq with the seq of your handshake's ACK",
        "a bare ACK uses no sequence number; your FIN takes the next one",
        "flags 'FA', seq = your ISN + 1",
    ),
    why="the kernel takes a FIN only at exactly rcv_nxt, the next number it expects from you",
)
def fin_seq(conn: ObservedConn) -> Verdict:
    fin = _fin(conn)
    if fin is None:
        return NotReached("you sent no FIN on your connection to the application's port")
    wrong = conn.diagnose(fin, "seq")
    if wrong:
        return Fail(f"{wrong}; {conn.reaction(fin)}", cause="fin-seq")
    if not conn.accepted(fin):
        return Fail(f"the kernel did not take your FIN: {conn.reaction(fin)}", cause="fin-taken")
    return Pass(f"your FIN's seq was {conn.seq_text(fin)}")


@CLOSE.add(
    CROSSING,
    3,
    hints=(
        "look at the order of the two FINs, and at what your FIN acknowledges",
        "CLOSING: the kernel's FIN is out and unacknowledged when a FIN arrives; a FIN that "
        "acknowledges its FIN is an ordinary close",
        "after lab.app_close() and the kernel's FIN: flags 'FA', seq = your ISN + 1, "
        "ack = the kernel's ISN + 1 (not its FIN's seq + 1)",
    ),
    why="FIN_WAIT_1 + the peer's FIN alone -> CLOSING: each FIN is still unacknowledged when the "
    "other side's arrives (RFC 9293 §3.6, case 3)",
    needs=(FIN_SEQ,),
)
def crossing(conn: ObservedConn) -> Verdict:
    fin = _fin(conn)
    if fin is None:
        return NotReached("you sent no FIN")
    rule = _rule(conn, fin)
    if rule == "simultaneous-close" and _agrees(conn, fin):
        return Pass(f"you put the kernel in CLOSING — a simultaneous close ({_path(conn)})")
    if not conn.accepted(fin):
        return NotReached(f"the kernel did not take your FIN: {conn.reaction(fin)}")
    kernel_fin = conn.kernel_fin()
    if kernel_fin is None or kernel_fin.time > fin.time:
        return Fail(
            f"your FIN came before the kernel's: it was ESTABLISHED and went to CLOSE_WAIT, "
            f"the passive close ({_path(conn)})",
            cause="fin-first",
        )
    if rule == "fin-to-time-wait":
        return Fail(
            f"your FIN's ack was {conn.ack_text(fin)}: it acknowledges the kernel's FIN, an "
            f"ordinary close; the kernel went FIN_WAIT_1 -> TIME_WAIT, no CLOSING",
            cause="fin-acks-fin",
        )
    return Fail(f"{conn.reaction(fin)} ({_path(conn)})", cause="crossing")


@CLOSE.add(
    LAST_ACK,
    2,
    hints=(
        "after the crossing FINs, the kernel waits for one thing: look at what it retransmits",
        "the kernel leaves CLOSING when its FIN is acknowledged; your own FIN used one number",
        "flags 'A', seq = your ISN + 2, ack = the kernel's ISN + 2",
    ),
    why="the kernel leaves CLOSING only when its FIN is acknowledged; a FIN occupies one sequence "
    "number on each side",
    needs=(CROSSING,),
)
def last_ack(conn: ObservedConn) -> Verdict:
    ack = _last_ack(conn)
    if ack is None:
        if conn.reached(State.CLOSING):
            return NotReached(
                "you sent no ACK after your FIN: the kernel stayed in CLOSING, its FIN "
                "unacknowledged"
            )
        return NotReached("you sent no ACK after your FIN")
    wrong = conn.diagnose(ack, "seq") or conn.diagnose(ack, "ack")
    if wrong:
        return Fail(f"{wrong}; {conn.reaction(ack)}", cause="last-ack")
    if not conn.accepted(ack):
        return NotReached(f"the kernel had nothing left to acknowledge: {conn.reaction(ack)}")
    return Pass(f"your ACK was {conn.show(ack)}")


@CLOSE.add(
    CLOSE_TIME_WAIT,
    1,
    hints=(
        "follow the kernel's states to the end of part 1 ('tcplab sockets')",
        "after a simultaneous close both sides wait in TIME_WAIT",
        "CLOSING + the ACK of its FIN -> TIME_WAIT",
    ),
    why="FIN_WAIT_1 + the peer's FIN -> CLOSING; CLOSING + the ACK of its FIN -> TIME_WAIT "
    "(RFC 9293 §3.3.2)",
    needs=(FIN_SEQ, CROSSING, LAST_ACK),
)
def close_time_wait(conn: ObservedConn) -> Verdict:
    if not conn.reached(State.TIME_WAIT):
        return NotReached(f"the kernel never reached TIME_WAIT: {_path(conn)}")
    return Pass(f"the kernel's socket: {_path(conn)}")


# -- part 2: simultaneous open ---------------------------------------------------------------------
OWN_SYN = "you answer the kernel's SYN with a bare SYN"
OWN_SYNACK = "your SYN+ACK acknowledges the kernel's SYN"
OPEN_STATES = "the kernel goes SYN_RECEIVED -> ESTABLISHED"


def _own_syn(conn: ObservedConn) -> Seen | None:
    return conn.first_crafted(flags=Flags.SYN)


@OPEN.add(
    OWN_SYN,
    3,
    hints=(
        "look at the flags of your first segment on the kernel's connection",
        "a SYN that reaches a socket in SYN_SENT is a simultaneous open; a SYN+ACK is a "
        "server's answer",
        "flags 'S' (no ACK) from your port to the kernel's port, seq = your ISN",
    ),
    why="a SYN that reaches a socket in SYN_SENT is a simultaneous open: both sides connected "
    "(RFC 9293 §3.5, figure 7)",
)
def own_syn(conn: ObservedConn) -> Verdict:
    first = conn.first_crafted()
    if first is None:
        return NotReached("you sent nothing on the connection the kernel opened to you")
    syn = _own_syn(conn)
    if syn is not None and _rule(conn, syn) == "simultaneous-open" and _agrees(conn, syn):
        answer = conn.answer(syn)
        said = f"; it answered {conn.show(answer)}" if answer is not None else ""
        return Pass(f"the kernel went SYN_SENT -> SYN_RECEIVED{said}")
    if syn is None:
        return Fail(
            f"you answered its SYN with {conn.show(first)}, as a server would: "
            f"{conn.reaction(first)}",
            cause="server-answer",
        )
    return Fail(f"your SYN {conn.show(syn)}: {conn.reaction(syn)}", cause="own-syn")


@OPEN.add(
    OWN_SYNACK,
    3,
    hints=(
        "look at the kernel's SYN+ACK: which of its numbers does your SYN+ACK answer?",
        "your SYN+ACK is your SYN again (same ISN), now acknowledging the kernel's SYN, "
        "which occupied one number",
        "flags 'SA', seq = your ISN, ack = the kernel's ISN + 1",
    ),
    why="in a simultaneous open each side re-sends its SYN with an ACK of the other's; the kernel "
    "accepts it only if its seq is your ISN and its ack covers its own SYN",
)
def own_synack(conn: ObservedConn) -> Verdict:
    synack = conn.first_crafted(after=_own_syn(conn), flags=Flags.SYN | Flags.ACK)
    if synack is None:
        return NotReached("you sent no SYN+ACK")
    wrong = conn.diagnose(synack, "ack")
    if wrong:
        return Fail(f"{wrong}; {conn.reaction(synack)}", cause="synack-ack")
    if not conn.accepted(synack):
        return Fail(
            f"your SYN+ACK had seq {conn.seq_text(synack)}, not your ISN: {conn.reaction(synack)}",
            cause="synack-seq",
        )
    return Pass(f"your SYN+ACK was {conn.show(synack)}")


@OPEN.add(
    OPEN_STATES,
    2,
    hints=(
        "follow the kernel's states on the connection it opened ('tcplab sockets')",
        "SYN_RECEIVED is not only a server's state: the kernel gets there from SYN_SENT",
        "SYN_SENT + your SYN -> SYN_RECEIVED; + your SYN+ACK -> ESTABLISHED",
    ),
    why="SYN_SENT + SYN -> SYN_RECEIVED (it sends SYN+ACK); SYN_RECEIVED + the ACK of its SYN -> "
    "ESTABLISHED (RFC 9293 §3.3.2)",
    needs=(OWN_SYN, OWN_SYNACK),
)
def open_states(conn: ObservedConn) -> Verdict:
    if not (conn.reached(State.SYN_RECEIVED) and conn.reached(State.ESTABLISHED)):
        return NotReached(f"the kernel's socket: {_path(conn)}")
    return Pass(f"the kernel's socket: {_path(conn)}")
