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
from tcplab.i18n import N_, _
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()


def _both(first: str, then: str) -> str:
    """Two findings of one message: "{first}; {then}"."""
    # TRANSLATORS: two clauses of one message (the second often says what the kernel did)
    return _("{first}; {then}").format(first=first, then=then)


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


CLOSE = Part(checks, _close_candidates, N_("you opened no connection to the application's port"))
OPEN = Part(
    checks,
    _open_candidates,
    N_("the kernel's application never connected to you: call lab.app_connect(port)"),
)


def _path(conn: ObservedConn) -> str:
    seen = conn.model_states() or conn.states()
    return " -> ".join(s.value for s in seen) or _("no socket seen")


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


FIN_SEQ = N_("your FIN's seq is the one the kernel expects")
CROSSING = N_("your FIN crosses the kernel's: CLOSING")
LAST_ACK = N_("your last ACK acknowledges the kernel's FIN")
CLOSE_TIME_WAIT = N_("the kernel ends in TIME_WAIT")


@CLOSE.add(
    FIN_SEQ,
    2,
    hints=(
        N_("compare your FIN's seq with the seq of your handshake's ACK"),
        N_("a bare ACK uses no sequence number; your FIN takes the next one"),
        N_("flags 'FA', seq = your ISN + 1"),
    ),
    why=N_("the kernel takes a FIN only at exactly rcv_nxt, the next number it expects from you"),
)
def fin_seq(conn: ObservedConn) -> Verdict:
    fin = _fin(conn)
    if fin is None:
        return NotReached(_("you sent no FIN on your connection to the application's port"))
    wrong = conn.diagnose(fin, "seq")
    if wrong:
        return Fail(_both(wrong, conn.reaction(fin)), cause="fin-seq")
    if not conn.accepted(fin):
        return Fail(_not_taken(conn, fin), cause="fin-taken")
    return Pass(_("your FIN's seq was {seq}").format(seq=conn.seq_text(fin)))


def _not_taken(conn: ObservedConn, fin: Seen) -> str:
    return _("the kernel did not take your FIN: {reaction}").format(reaction=conn.reaction(fin))


@CLOSE.add(
    CROSSING,
    3,
    hints=(
        N_("look at the order of the two FINs, and at what your FIN acknowledges"),
        N_(
            "CLOSING: the kernel's FIN is out and unacknowledged when a FIN arrives; a FIN that "
            "acknowledges its FIN is an ordinary close"
        ),
        N_(
            "after lab.app_close() and the kernel's FIN: flags 'FA', seq = your ISN + 1, "
            "ack = the kernel's ISN + 1 (not its FIN's seq + 1)"
        ),
    ),
    why=N_(
        "FIN_WAIT_1 + the peer's FIN alone -> CLOSING: each FIN is still unacknowledged when the "
        "other side's arrives (RFC 9293 §3.6, case 3)"
    ),
    needs=(FIN_SEQ,),
)
def crossing(conn: ObservedConn) -> Verdict:
    fin = _fin(conn)
    if fin is None:
        return NotReached(_("you sent no FIN"))
    rule = _rule(conn, fin)
    if rule == "simultaneous-close" and _agrees(conn, fin):
        return Pass(
            _("you put the kernel in CLOSING — a simultaneous close ({states})").format(
                states=_path(conn)
            )
        )
    if not conn.accepted(fin):
        return NotReached(_not_taken(conn, fin))
    kernel_fin = conn.kernel_fin()
    if kernel_fin is None or kernel_fin.time > fin.time:
        return Fail(
            _(
                "your FIN came before the kernel's: it was ESTABLISHED and went to CLOSE_WAIT, "
                "the passive close ({states})"
            ).format(states=_path(conn)),
            cause="fin-first",
        )
    if rule == "fin-to-time-wait":
        return Fail(
            _(
                "your FIN's ack was {ack}: it acknowledges the kernel's FIN, an "
                "ordinary close; the kernel went FIN_WAIT_1 -> TIME_WAIT, no CLOSING"
            ).format(ack=conn.ack_text(fin)),
            cause="fin-acks-fin",
        )
    return Fail(
        _("{reaction} ({states})").format(reaction=conn.reaction(fin), states=_path(conn)),
        cause="crossing",
    )


@CLOSE.add(
    LAST_ACK,
    2,
    hints=(
        N_("after the crossing FINs, the kernel waits for one thing: look at what it retransmits"),
        N_("the kernel leaves CLOSING when its FIN is acknowledged; your own FIN used one number"),
        N_("flags 'A', seq = your ISN + 2, ack = the kernel's ISN + 2"),
    ),
    why=N_(
        "the kernel leaves CLOSING only when its FIN is acknowledged; a FIN occupies one sequence "
        "number on each side"
    ),
    needs=(CROSSING,),
)
def last_ack(conn: ObservedConn) -> Verdict:
    ack = _last_ack(conn)
    if ack is None:
        if conn.reached(State.CLOSING):
            return NotReached(
                _(
                    "you sent no ACK after your FIN: the kernel stayed in CLOSING, its FIN "
                    "unacknowledged"
                )
            )
        return NotReached(_("you sent no ACK after your FIN"))
    wrong = conn.diagnose(ack, "seq") or conn.diagnose(ack, "ack")
    if wrong:
        return Fail(_both(wrong, conn.reaction(ack)), cause="last-ack")
    if not conn.accepted(ack):
        return NotReached(
            _("the kernel had nothing left to acknowledge: {reaction}").format(
                reaction=conn.reaction(ack)
            )
        )
    return Pass(_("your ACK was {segment}").format(segment=conn.show(ack)))


@CLOSE.add(
    CLOSE_TIME_WAIT,
    1,
    hints=(
        N_("follow the kernel's states to the end of part 1 ('tcplab sockets')"),
        N_("after a simultaneous close both sides wait in TIME_WAIT"),
        N_("CLOSING + the ACK of its FIN -> TIME_WAIT"),
    ),
    why=N_(
        "FIN_WAIT_1 + the peer's FIN -> CLOSING; CLOSING + the ACK of its FIN -> TIME_WAIT "
        "(RFC 9293 §3.3.2)"
    ),
    needs=(FIN_SEQ, CROSSING, LAST_ACK),
)
def close_time_wait(conn: ObservedConn) -> Verdict:
    if not conn.reached(State.TIME_WAIT):
        return NotReached(
            _("the kernel never reached TIME_WAIT: {states}").format(states=_path(conn))
        )
    return Pass(_("the kernel's socket: {states}").format(states=_path(conn)))


# -- part 2: simultaneous open ---------------------------------------------------------------------
OWN_SYN = N_("you answer the kernel's SYN with a bare SYN")
OWN_SYNACK = N_("your SYN+ACK acknowledges the kernel's SYN")
OPEN_STATES = N_("the kernel goes SYN_RECEIVED -> ESTABLISHED")


def _own_syn(conn: ObservedConn) -> Seen | None:
    return conn.first_crafted(flags=Flags.SYN)


@OPEN.add(
    OWN_SYN,
    3,
    hints=(
        N_("look at the flags of your first segment on the kernel's connection"),
        N_(
            "a SYN that reaches a socket in SYN_SENT is a simultaneous open; a SYN+ACK is a "
            "server's answer"
        ),
        N_("flags 'S' (no ACK) from your port to the kernel's port, seq = your ISN"),
    ),
    why=N_(
        "a SYN that reaches a socket in SYN_SENT is a simultaneous open: both sides connected "
        "(RFC 9293 §3.5, figure 7)"
    ),
)
def own_syn(conn: ObservedConn) -> Verdict:
    first = conn.first_crafted()
    if first is None:
        return NotReached(_("you sent nothing on the connection the kernel opened to you"))
    syn = _own_syn(conn)
    if syn is not None and _rule(conn, syn) == "simultaneous-open" and _agrees(conn, syn):
        answer = conn.answer(syn)
        if answer is None:
            return Pass(_("the kernel went SYN_SENT -> SYN_RECEIVED"))
        return Pass(
            _("the kernel went SYN_SENT -> SYN_RECEIVED; it answered {segment}").format(
                segment=conn.show(answer)
            )
        )
    if syn is None:
        return Fail(
            _("you answered its SYN with {segment}, as a server would: {reaction}").format(
                segment=conn.show(first), reaction=conn.reaction(first)
            ),
            cause="server-answer",
        )
    return Fail(
        _("your SYN {segment}: {reaction}").format(
            segment=conn.show(syn), reaction=conn.reaction(syn)
        ),
        cause="own-syn",
    )


@OPEN.add(
    OWN_SYNACK,
    3,
    hints=(
        N_("look at the kernel's SYN+ACK: which of its numbers does your SYN+ACK answer?"),
        N_(
            "your SYN+ACK is your SYN again (same ISN), now acknowledging the kernel's SYN, "
            "which occupied one number"
        ),
        N_("flags 'SA', seq = your ISN, ack = the kernel's ISN + 1"),
    ),
    why=N_(
        "in a simultaneous open each side re-sends its SYN with an ACK of the other's; the kernel "
        "accepts it only if its seq is your ISN and its ack covers its own SYN"
    ),
)
def own_synack(conn: ObservedConn) -> Verdict:
    synack = conn.first_crafted(after=_own_syn(conn), flags=Flags.SYN | Flags.ACK)
    if synack is None:
        return NotReached(_("you sent no SYN+ACK"))
    wrong = conn.diagnose(synack, "ack")
    if wrong:
        return Fail(_both(wrong, conn.reaction(synack)), cause="synack-ack")
    if not conn.accepted(synack):
        return Fail(
            _("your SYN+ACK had seq {seq}, not your ISN: {reaction}").format(
                seq=conn.seq_text(synack), reaction=conn.reaction(synack)
            ),
            cause="synack-seq",
        )
    return Pass(_("your SYN+ACK was {segment}").format(segment=conn.show(synack)))


@OPEN.add(
    OPEN_STATES,
    2,
    hints=(
        N_("follow the kernel's states on the connection it opened ('tcplab sockets')"),
        N_("SYN_RECEIVED is not only a server's state: the kernel gets there from SYN_SENT"),
        N_("SYN_SENT + your SYN -> SYN_RECEIVED; + your SYN+ACK -> ESTABLISHED"),
    ),
    why=N_(
        "SYN_SENT + SYN -> SYN_RECEIVED (it sends SYN+ACK); SYN_RECEIVED + the ACK of its SYN -> "
        "ESTABLISHED (RFC 9293 §3.3.2)"
    ),
    needs=(OWN_SYN, OWN_SYNACK),
)
def open_states(conn: ObservedConn) -> Verdict:
    if not (conn.reached(State.SYN_RECEIVED) and conn.reached(State.ESTABLISHED)):
        return NotReached(_("the kernel's socket: {states}").format(states=_path(conn)))
    return Pass(_("the kernel's socket: {states}").format(states=_path(conn)))
