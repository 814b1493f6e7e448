"""Checks for lab 4 (passive close and TIME_WAIT), on what the kernel host saw.

The task spans two incarnations of one port pair (the close into TIME_WAIT, then the SYN that
reopens it), so the checklist is observation-wide: every connection the student began to the
application's port, with all that followed on its port pair, is a candidate, and the one the checks
score best is judged (kit.Part; ties: the later). Experiments before, between or after cost
nothing.

Numbers are judged against what the kernel's TCB held when each segment arrived (tcplab's model:
conn.diagnose / conn.accepted), so a mistake costs its own check and a later step is judged on what
the kernel really had. What the kernel must answer in TIME_WAIT (an old SYN, a reopening one, a FIN
sent again) is the model's rule, and the kernel must have done it.
"""

from __future__ import annotations

from tcplab.exercise.kit import (
    N_,
    Checklist,
    Fail,
    NotReached,
    Observation,
    ObservedConn,
    Part,
    Pass,
    Seen,
    _,
    rel_text,
)
from tcplab.model.flags import Flags
from tcplab.model.state import State
from tcplab.model.table import Place

checks = Checklist()

TIMEWAIT_S = 60.0  # TCP_TIMEWAIT_LEN (include/net/tcp.h)
TOO_SOON_S = 1.0  # a FIN sent again sooner cannot tell the timer's restart from its start

Verdict = Pass | Fail | NotReached


def _candidates(obs: Observation) -> list[ObservedConn]:
    """Each connection the student began with a SYN, and all that followed on its port pair."""
    out: list[ObservedConn] = []
    for pair in obs.attempts():
        parts = pair.incarnations()
        for i, part in enumerate(parts):
            if part.crafted() and part.segments[0].segment.flags == Flags.SYN:
                out.append(_from(pair, part.segments[0] if i else None))
    return out


STEPS = Part(checks, _candidates, N_("you opened no connection to the application's port"))


def _from(pair: ObservedConn, first: Seen | None) -> ObservedConn:
    """The port pair's segments and socket-table samples from `first` on (None: all)."""
    start = pair.segments.index(first) if first is not None else 0
    since = first.time if first is not None else float("-inf")
    conn = ObservedConn(pair.sport, pair.kport, predictions=pair.predictions)
    for s in pair.segments[start:]:
        conn.add(s)
    conn.samples = [x for x in pair.samples if x.time >= since]
    return conn


# -- what the checks look at ----------------------------------------------------------------------
def _before(conn: ObservedConn, seg: Seen) -> Place | None:
    exp = conn.expected(seg)
    return None if exp is None else exp.place


def _close(conn: ObservedConn) -> list[Seen]:
    """Your segments after the kernel's FIN, up to your first SYN after it."""
    out: list[Seen] = []
    for s in conn.crafted_after(conn.kernel_fin()):
        if Flags.SYN in s.segment.flags:
            break
        out.append(s)
    return out


def _bare_ack(conn: ObservedConn) -> Seen | None:
    """Your ACK of the kernel's FIN: the one the kernel took, else your first bare ACK."""
    acks = [s for s in _close(conn) if s.segment.flags == Flags.ACK and not s.segment.payload]
    return next((a for a in acks if conn.accepted(a)), acks[0] if acks else None)


def _fin(conn: ObservedConn) -> Seen | None:
    """Your FIN: the first after the kernel's FIN (before any of your SYNs)."""
    return next((s for s in _close(conn) if Flags.FIN in s.segment.flags), None)


def _into_time_wait(conn: ObservedConn) -> Seen | None:
    """Your segment that took the kernel into TIME_WAIT (as the model says, and the kernel did)."""
    for s in conn.segments:
        rec = conn.predicted(s)
        into = rec is not None and rec.agrees and rec.prediction.place is Place.TIME_WAIT
        if into and _before(conn, s) is not Place.TIME_WAIT:
            return s
    return None


def _in_time_wait(conn: ObservedConn) -> list[Seen]:
    """Your segments that met the kernel's connection in TIME_WAIT."""
    return [
        s for s in conn.crafted_after(_into_time_wait(conn)) if _before(conn, s) is Place.TIME_WAIT
    ]


def _fins_in_time_wait(conn: ObservedConn) -> list[Seen]:
    return [
        s
        for s in _in_time_wait(conn)
        if Flags.FIN in s.segment.flags and not s.segment.flags & (Flags.SYN | Flags.RST)
    ]


def _syns_in_time_wait(conn: ObservedConn) -> list[Seen]:
    return [s for s in _in_time_wait(conn) if s.segment.flags == Flags.SYN]


def _rule(conn: ObservedConn, seg: Seen) -> str:
    rec = conn.predicted(seg)
    return "" if rec is None else rec.prediction.rule


def _path(conn: ObservedConn) -> str:
    seen = conn.model_states() or conn.states()
    return " -> ".join(s.value for s in seen) or _("no socket seen")


def _no_kernel_fin() -> NotReached:
    return NotReached(_("the kernel sent no FIN: call lab.app_close() after the handshake"))


# -- the close -------------------------------------------------------------------------------------
ACK_OF_FIN = N_("your ACK acknowledges the kernel's FIN")
FIN_WAIT_2 = N_("the kernel passes FIN_WAIT_2")
FIN_SEQ = N_("the kernel takes your FIN: its seq")
FIN_ACK = N_("your FIN acknowledges the kernel's FIN too")
TIME_WAIT = N_("the kernel reaches TIME_WAIT, 60 s")
FIN_AGAIN = N_("your FIN sent again is ACKed again")
RESTART = N_("the FIN sent again restarts the 60 s timer")
OLD_SYN = N_("an old SYN gets TIME_WAIT's ACK")
NEW_SYN = N_("a SYN above rcv_nxt reopens the connection")
NEW_HANDSHAKE = N_("you complete the new handshake")


@STEPS.add(
    ACK_OF_FIN,
    2,
    hints=(
        N_("look at the kernel's FIN and at the ACK you answered it with (flags 'A')"),
        N_("an ACK names the next number it expects; a FIN occupies one sequence number"),
        N_("ack = the FIN's seq + 1, seq = your ISN + 1 (your FIN comes after, on its own)"),
    ),
    why=N_("your ACK of its FIN moves the kernel from FIN_WAIT_1 to FIN_WAIT_2"),
)
def ack_of_fin(conn: ObservedConn) -> Verdict:
    if conn.kernel_fin() is None:
        return _no_kernel_fin()
    ack = _bare_ack(conn)
    if ack is None:
        first = next(iter(_close(conn)), None)
        if first is None:
            return NotReached(_("you sent nothing after the kernel's FIN"))
        return Fail(
            _("your first segment after its FIN was {segment}, not a bare ACK: {reaction}").format(
                segment=conn.show(first), reaction=conn.reaction(first)
            ),
            cause="no-bare-ack",
        )
    wrong = conn.diagnose(ack, "ack") or conn.diagnose(ack, "seq")
    if wrong or not conn.accepted(ack):
        said = wrong or _("your ACK was {segment}").format(segment=conn.show(ack))
        if conn.reached(State.CLOSING):
            said = _(
                "{wrong}; then your FIN came while the kernel still waited for the ACK of its "
                "FIN: you put the kernel in CLOSING — a simultaneous close"
            ).format(wrong=said)
        return Fail(
            _("{wrong}; {reaction}").format(wrong=said, reaction=conn.reaction(ack)),
            cause="ack-of-fin",
        )
    return Pass(_("your ack was {ack}").format(ack=conn.ack_text(ack)))


@STEPS.add(
    FIN_WAIT_2,
    1,
    hints=(
        N_("watch the kernel's states between its FIN and yours ('tcplab sockets')"),
        N_("FIN_WAIT_2 lies between the ACK of the kernel's FIN and your own FIN"),
        N_("send the bare ACK, pause (time.sleep(0.05)), then your FIN"),
    ),
    why=N_(
        "the side that closes first passes FIN_WAIT_1 (FIN sent), FIN_WAIT_2 (FIN ACKed), then "
        "TIME_WAIT (the peer's FIN ACKed)"
    ),
    needs=(ACK_OF_FIN,),
)
def fin_wait_2(conn: ObservedConn) -> Verdict:
    if not conn.reached(State.FIN_WAIT_2):
        return NotReached(_("the kernel's socket: {states}").format(states=_path(conn)))
    return Pass(_("the kernel's socket: {states}").format(states=_path(conn)))


@STEPS.add(
    FIN_SEQ,
    2,
    hints=(
        N_("compare your FIN's seq with the seq of your ACK before it"),
        N_(
            "a bare ACK uses no sequence number; in FIN_WAIT_2 the kernel takes a FIN only at "
            "exactly rcv_nxt, and only with the ACK flag"
        ),
        N_("flags 'FA', seq = your ISN + 1"),
    ),
    why=N_(
        "the kernel in FIN_WAIT_2 accepts a FIN only at exactly rcv_nxt; then it enters TIME_WAIT"
    ),
)
def fin_seq(conn: ObservedConn) -> Verdict:
    if conn.kernel_fin() is None:
        return _no_kernel_fin()
    closing = (s for s in _close(conn) if s.segment.flags & (Flags.FIN | Flags.RST))
    first = next(closing, None)
    if first is not None and Flags.RST in first.segment.flags:
        return NotReached(
            _("you closed with {segment}, not a FIN: {reaction}").format(
                segment=conn.show(first), reaction=conn.reaction(first)
            )
        )
    fin = _fin(conn)
    if fin is None:
        return NotReached(_("you sent no FIN after the kernel's FIN"))
    wrong = conn.diagnose(fin, "seq")
    if wrong:
        return Fail(
            _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(fin)),
            cause="fin-seq",
        )
    if Flags.ACK not in fin.segment.flags:
        return Fail(
            _("your FIN had no ACK flag: {reaction}").format(reaction=conn.reaction(fin)),
            cause="fin-flags",
        )
    if not conn.accepted(fin):
        return NotReached(
            _("the kernel did not take your FIN: {reaction}").format(reaction=conn.reaction(fin))
        )
    return Pass(_("your FIN's seq was {seq}").format(seq=conn.seq_text(fin)))


@STEPS.add(
    FIN_ACK,
    1,
    hints=(
        N_("your FIN carries an ack too: which number of the kernel's does it name?"),
        N_("the FIN comes after your ACK of the kernel's FIN: it acknowledges the same"),
        N_("ack = the kernel's FIN's seq + 1"),
    ),
    why=N_("a FIN+ACK that acknowledges the kernel's FIN leaves no FIN unacknowledged on its side"),
    needs=(FIN_SEQ,),
)
def fin_ack(conn: ObservedConn) -> Verdict:
    fin = _fin(conn)
    if fin is None or Flags.ACK not in fin.segment.flags:
        return NotReached(_("you sent no FIN+ACK after the kernel's FIN"))
    if conn.diagnose(fin, "seq"):
        return NotReached(_("the kernel did not take your FIN: see its seq"))
    wrong = conn.diagnose(fin, "ack")
    if wrong:
        if conn.reached(State.CLOSING):
            said = _("{wrong}; the kernel went to CLOSING; {reaction}")
        else:
            said = _("{wrong}; {reaction}")
        return Fail(said.format(wrong=wrong, reaction=conn.reaction(fin)), cause="ack-of-fin")
    if not conn.accepted(fin):
        return NotReached(
            _("the kernel did not take your FIN: {reaction}").format(reaction=conn.reaction(fin))
        )
    return Pass(_("your FIN's ack was {ack}").format(ack=conn.ack_text(fin)))


# -- TIME_WAIT -------------------------------------------------------------------------------------
def _deadline(conn: ObservedConn) -> tuple[float, float] | None:
    """(when TIME_WAIT began, when its timer would end as last read), from the socket table."""
    entry = _into_time_wait(conn)
    if entry is None:
        return None
    for i, s in enumerate(conn.samples):
        if s.state is not State.TIME_WAIT or s.timer != "timewait":
            continue
        # when its timer was last read (older recordings: before the next stretch began)
        if s.read is not None:
            read = s.read
        elif i + 1 < len(conn.samples):
            read = conn.samples[i + 1].time
        else:
            return None
        return entry.time, read + s.expires_ms / 1000
    return None


@STEPS.add(
    TIME_WAIT,
    1,
    hints=(
        N_("read the kernel's timer once it ACKs your FIN: 'tcplab sockets' or ss -tano in ns2"),
        N_("only the side that closed first waits; Linux waits a constant, not RFC 9293's 2 MSL"),
        N_("TIME_WAIT lasts TCP_TIMEWAIT_LEN = 60 s on Linux (2 MSL would be 4 minutes)"),
    ),
    why=N_("Linux waits TCP_TIMEWAIT_LEN = 60 s, a constant, not the RFC's 2 MSL"),
    needs=(ACK_OF_FIN, FIN_SEQ, FIN_ACK),
)
def time_wait(conn: ObservedConn) -> Verdict:
    if _into_time_wait(conn) is None:
        return NotReached(
            _("the kernel never reached TIME_WAIT: {states}").format(states=_path(conn))
        )
    got = _deadline(conn)
    if got is None:
        return NotReached(_("tcplab could not read the kernel's TIME_WAIT timer"))
    start, end = got
    starts = [start] + [s.time for s in _fins_in_time_wait(conn)]
    if min(abs(end - t - TIMEWAIT_S) for t in starts) > 1.5:
        return Fail(
            _("TIME_WAIT would end {s} s after it began").format(s=f"{end - start:.1f}"),
            cause="timer",
        )
    return Pass(
        _("the kernel's socket: {states}; timer timewait, about 60 s").format(states=_path(conn))
    )


@STEPS.add(
    FIN_AGAIN,
    2,
    hints=(
        N_("once the kernel is in TIME_WAIT, send your FIN once more"),
        N_(
            "TIME_WAIT keeps the connection's numbers so a peer whose last ACK was lost still gets it"
        ),
        N_("after time.sleep(2), send exactly the same FIN (same seq and ack) again"),
    ),
    why=N_(
        "TIME_WAIT keeps the connection's numbers so that a peer whose last ACK was lost still "
        "gets it: the first reason TIME_WAIT exists (RFC 9293 §3.6)"
    ),
    needs=(FIN_SEQ, FIN_ACK, TIME_WAIT),
)
def fin_again(conn: ObservedConn) -> Verdict:
    fins = _fins_in_time_wait(conn)
    if not fins:
        return NotReached(_("you sent no FIN while the kernel was in TIME_WAIT"))
    good = [f for f in fins if conn.verdict(f, "time-wait-ack")[0]]
    if not good:
        return Fail(
            _("your FIN {segment}: {reaction}").format(
                segment=conn.show(fins[0]), reaction=conn.reaction(fins[0])
            ),
            cause="fin-again",
        )
    reply = conn.answer(good[0])
    if reply is None:
        return Pass(_("the kernel answered your FIN again with nothing"))
    return Pass(
        _("the kernel answered your FIN again with {segment}").format(segment=conn.show(reply))
    )


@STEPS.add(
    RESTART,
    1,
    hints=(
        N_("compare when TIME_WAIT began with when you sent your FIN again"),
        N_(
            "each FIN sent again re-arms TIME_WAIT's full 60 s; tcplab sees it only if it came "
            "a while after TIME_WAIT began"
        ),
        N_("time.sleep(2) in TIME_WAIT, send the FIN again, then time.sleep(1)"),
    ),
    why=N_("each FIN sent again re-arms TIME_WAIT's full 60 s (inet_twsk_reschedule)"),
    needs=(FIN_AGAIN,),
)
def restart(conn: ObservedConn) -> Verdict:
    fins = [f for f in _fins_in_time_wait(conn) if conn.verdict(f, "time-wait-ack")[0]]
    got = _deadline(conn)
    if not fins or got is None:
        return NotReached(_("no FIN of yours was ACKed in TIME_WAIT"))
    start, end = got
    last = fins[-1].time
    if last - start < TOO_SOON_S:
        return Fail(
            _(
                "you sent your FIN again {s} s into TIME_WAIT: too soon to tell "
                "a restarted timer from the first one"
            ).format(s=f"{last - start:.2f}"),
            cause="too-soon",
        )
    # restarted: the timer ends 60 s after your last FIN, not 60 s after TIME_WAIT began
    restarted = abs(end - last - TIMEWAIT_S) < abs(end - start - TIMEWAIT_S)
    said = _(
        "TIME_WAIT would end {after_fin} s after your last FIN, {after_start} s after it began"
    ).format(after_fin=f"{end - last:.1f}", after_start=f"{end - start:.1f}")
    return Pass(said) if restarted else Fail(said, cause="restart")


# -- SYNs into TIME_WAIT ---------------------------------------------------------------------------
@STEPS.add(
    OLD_SYN,
    2,
    hints=(
        N_(
            "in TIME_WAIT, send a SYN from the same port whose seq is not above the old "
            "connection's numbers"
        ),
        N_("a SYN at or below rcv_nxt may be an old duplicate: TIME_WAIT answers it with its ACK"),
        N_("flags 'S', seq = your old ISN: the answer is the ACK seq K + 2, ack ISN + 2"),
    ),
    why=N_(
        "a SYN below rcv_nxt may be an old duplicate: TIME_WAIT answers with its ACK and keeps "
        "it from opening a new incarnation (the second reason TIME_WAIT exists)"
    ),
    needs=(TIME_WAIT,),
)
def old_syn(conn: ObservedConn) -> Verdict:
    old = [s for s in _syns_in_time_wait(conn) if _rule(conn, s) != "time-wait-reopen"]
    if not old:
        return NotReached(
            _("you sent no SYN at or below rcv_nxt while the kernel was in TIME_WAIT")
        )
    good = next((s for s in old if conn.verdict(s, "time-wait-ack")[0]), None)
    if good is None:
        return Fail(
            _("your SYN {segment}: {reaction}").format(
                segment=conn.show(old[0]), reaction=conn.reaction(old[0])
            ),
            cause="old-syn",
        )
    reply = conn.answer(good)
    if reply is None:
        return Pass(_("your SYN with seq {seq} got nothing").format(seq=conn.seq_text(good)))
    return Pass(
        _("your SYN with seq {seq} got {segment}").format(
            seq=conn.seq_text(good), segment=conn.show(reply)
        )
    )


def _reopen(conn: ObservedConn) -> Seen | None:
    return next((s for s in _syns_in_time_wait(conn) if _rule(conn, s) == "time-wait-reopen"), None)


@STEPS.add(
    NEW_SYN,
    2,
    hints=(
        N_(
            "in TIME_WAIT, send a SYN from the same port with a seq well above the old "
            "connection's numbers"
        ),
        N_(
            "Linux lets a new incarnation in when its SYN is above rcv_nxt; its new ISN lies above "
            "everything the old one sent"
        ),
        N_("flags 'S', seq = your old ISN + 100000: the kernel answers SYN+ACK, ISN = K + 65539"),
    ),
    why=N_(
        "Linux lets a new incarnation in when its SYN is above rcv_nxt, and picks an ISN above "
        "everything the old one sent (tcp_timewait_state_process)"
    ),
    needs=(TIME_WAIT,),
)
def new_syn(conn: ObservedConn) -> Verdict:
    syn = _reopen(conn)
    if syn is None:
        tried = _syns_in_time_wait(conn)
        if tried:
            exp = conn.expected(tried[-1])
            nxt = exp.rcv_nxt if exp is not None else None
            above = rel_text(nxt, conn.iss, "your") if nxt is not None else "rcv_nxt"
            return NotReached(
                _(
                    "none of your SYNs in TIME_WAIT was above rcv_nxt ({above}): your last had "
                    "seq {seq}; {reaction}"
                ).format(
                    above=above, seq=conn.seq_text(tried[-1]), reaction=conn.reaction(tried[-1])
                )
            )
        return NotReached(_("you sent no SYN while the kernel was in TIME_WAIT"))
    ok, said = conn.verdict(syn, "time-wait-reopen")
    reply = conn.answer(syn)
    if not ok or reply is None or reply.flags != Flags.SYN | Flags.ACK:
        return Fail(
            _("your SYN {segment}: {reaction}").format(
                segment=conn.show(syn), reaction=conn.reaction(syn)
            ),
            cause="reopen",
        )
    return Pass(
        _("the kernel's new ISN was {isn} (the old snd_nxt + 65537)").format(
            isn=conn.seq_text(reply)
        )
    )


@STEPS.add(
    NEW_HANDSHAKE,
    1,
    hints=(
        N_("look at the new SYN+ACK: your ACK answers it as in lab 1"),
        N_("the reopened connection is a new incarnation with its own two ISNs"),
        N_("ACK with seq = your new ISN + 1, ack = the new SYN+ACK's seq + 1"),
    ),
    why=N_("the reopened connection is a new incarnation with its own ISNs"),
    needs=(NEW_SYN,),
)
def new_handshake(conn: ObservedConn) -> Verdict:
    syn = _reopen(conn)
    if syn is None:
        return NotReached(_("the connection was not reopened"))
    new = _from(conn, syn)
    synack = new.kernel_synack()
    acks = [s for s in new.crafted_after(synack) if s.segment.flags == Flags.ACK]
    if synack is None or not acks:
        return NotReached(_("you sent no ACK after the new SYN+ACK"))
    ack = next((a for a in acks if new.accepted(a)), acks[0])
    wrong = new.diagnose(ack, "ack") or new.diagnose(ack, "seq")
    if wrong or not new.accepted(ack) or not new.reached(State.ESTABLISHED):
        return Fail(
            _("{wrong}; {reaction}").format(
                wrong=wrong or new.show(ack), reaction=new.reaction(ack)
            ),
            cause="new-handshake",
        )
    return Pass(_("the new connection: {states}").format(states=_path(new)))
