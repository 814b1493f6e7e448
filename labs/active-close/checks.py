"""Checks for lab 3 (active close from your side, and half-close), on what the kernel host saw.

Each connection you open to the application's port is judged on its own and the best one counts:
experiments before, between or after cost nothing. Every number is judged against what the
kernel's TCB held when your segment arrived (tcplab's model); points come only for what the kernel
accepted, a mistake is charged where it happened, and a step the kernel never reached because of
it says "not reached" instead of blaming you again.
"""

from tcplab.exercise.kit import N_, Checklist, Fail, NotReached, ObservedConn, Pass, Seen, _
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist(per_connection=True)

FIN_TITLE = N_("the kernel accepts your FIN: flags, seq and ack")
CLOSE_WAIT_TITLE = N_("the kernel ACKs your FIN and goes to CLOSE_WAIT")
AFTER_TITLE = N_("your segments after your FIN count the FIN")
LAST_ACK_TITLE = N_("the kernel goes to LAST_ACK when its application closes")
FINAL_TITLE = N_("your last ACK acknowledges the kernel's FIN")


def _fin(conn: ObservedConn) -> Seen | None:
    """Your FIN after the handshake: the first the kernel accepted, else your first."""
    return conn.taken_or_first(conn.after_synack(Flags.FIN))


def _accepted_fin(conn: ObservedConn) -> Seen | None:
    fin = _fin(conn)
    return fin if fin is not None and conn.accepted(fin) else None


def _no_fin(conn: ObservedConn) -> NotReached:
    if conn.kernel_synack() is None:
        return NotReached(_("no handshake on this connection: the kernel sent no SYN+ACK"))
    return NotReached(_("you sent no FIN after the handshake"))


def _kernel_data(conn: ObservedConn, fin: Seen) -> Seen | None:
    """The kernel's first data after your (accepted) FIN: the half-close."""
    return next((s for s in conn.kernel_after(fin) if s.segment.payload), None)


def _kernel_fin_after(conn: ObservedConn, fin: Seen) -> Seen | None:
    return next((s for s in conn.kernel_after(fin) if Flags.FIN in s.segment.flags), None)


def _before(conn: ObservedConn, seen: Seen, end: Seen | None) -> list[Seen]:
    """Your segments after `seen` and before `end` (None: to the end)."""
    out = conn.crafted_after(seen)
    if end is None:
        return out
    stop = conn.segments.index(end)
    return [s for s in out if conn.segments.index(s) < stop]


def _dropped_for_seq(conn: ObservedConn, seen: Seen) -> str | None:
    """Why the kernel dropped this segment when its seq is what was wrong (None otherwise)."""
    if conn.accepted(seen):
        return None
    return conn.diagnose(seen, "seq")


@checks.add(
    FIN_TITLE,
    4,
    hints=(
        N_("look at your FIN's flags, seq and ack: which one would the kernel refuse?"),
        N_(
            "after the handshake every segment carries ACK; a FIN takes the next unused "
            "sequence number, as data would"
        ),
        N_("flags 'FA', seq = your ISN + 1, ack = the kernel's ISN + 1"),
    ),
    why=N_(
        "a synchronized connection drops a segment without ACK or outside the window "
        "(RFC 9293 §3.10.7.4)"
    ),
)
def fin_accepted(conn: ObservedConn) -> Pass | Fail | NotReached:
    fin = _fin(conn)
    if fin is None:
        return _no_fin(conn)
    seg = fin.segment
    if Flags.ACK not in seg.flags:
        return Fail(
            _("your FIN had no ACK flag ({segment}); {reaction}").format(
                segment=conn.show(fin), reaction=conn.reaction(fin)
            ),
            cause="fin-flags",
        )
    for field in ("seq", "ack"):
        wrong = conn.diagnose(fin, field)
        if wrong:
            return Fail(
                _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(fin)),
                cause=f"fin-{field}",
            )
    if not conn.accepted(fin):
        return Fail(
            _("{segment}: {reaction}").format(segment=conn.show(fin), reaction=conn.reaction(fin)),
            cause="fin",
        )
    return Pass(_("your FIN: {segment}").format(segment=conn.show(fin)))


@checks.add(
    CLOSE_WAIT_TITLE,
    2,
    hints=(
        N_("watch the kernel's socket after your FIN: 'tcplab sockets' or ss in the kernel host"),
        N_("the side that receives the first FIN acknowledges it and waits for its application"),
        N_("ESTABLISHED -> CLOSE_WAIT on your FIN; its ack is your FIN's seq + 1"),
    ),
    why=N_(
        "the kernel acknowledges your FIN, tells its application end-of-stream, and waits "
        "for it to close()"
    ),
    needs=(FIN_TITLE,),
)
def close_wait(conn: ObservedConn) -> Pass | NotReached:
    fin = _accepted_fin(conn)
    if fin is None:
        return (
            _no_fin(conn)
            if _fin(conn) is None
            else NotReached(_("the kernel did not take your FIN"))
        )
    answer = conn.answer(fin)
    said = (
        ""
        if answer is None
        else _("the kernel answered {segment}").format(segment=conn.show(answer))
    )
    text = _("{answered}; the kernel's socket: {states}").format(
        answered=said, states=_ladder(conn)
    )
    if not conn.reached(State.CLOSE_WAIT):
        return NotReached(text)
    return Pass(text)


@checks.add(
    AFTER_TITLE,
    2,
    hints=(
        N_("compare the seq of what you send after your FIN with your FIN's seq"),
        N_("a FIN occupies one sequence number, exactly like a SYN"),
        N_("after a FIN with seq = your ISN + 1, your next seq is your ISN + 2"),
    ),
    why=N_("what you send after your FIN starts at the next unused sequence number"),
    needs=(CLOSE_WAIT_TITLE,),
)
def seq_after_fin(conn: ObservedConn) -> Pass | Fail | NotReached:
    fin = _accepted_fin(conn)
    if fin is None:
        return NotReached(_("the kernel did not take your FIN"))
    later = [s for s in conn.crafted_after(fin) if Flags.FIN not in s.segment.flags]
    if not later:
        return NotReached(_("you sent nothing after your FIN"))
    wrong = conn.diagnose(later[0], "seq")
    if wrong:
        return Fail(
            _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(later[0])),
            cause="after-fin-seq",
        )
    return Pass(_("your seq was {seq}").format(seq=conn.seq_text(later[0])))


@checks.add(
    N_("you ACK the data the kernel sends after your FIN"),
    2,
    hints=(
        N_("look at the kernel's data after your FIN: did you acknowledge it before its FIN came?"),
        N_(
            "your FIN closed only your direction: the kernel may still send, and you still "
            "acknowledge what arrives"
        ),
        N_("ack = the data's seq + its length"),
    ),
    why=N_(
        "half-close: the kernel in CLOSE_WAIT may still send, and you in FIN_WAIT_2 still receive"
    ),
    needs=(CLOSE_WAIT_TITLE,),
)
def data_acked(conn: ObservedConn) -> Pass | Fail | NotReached:
    fin = _accepted_fin(conn)
    if fin is None:
        return NotReached(_("the kernel did not take your FIN"))
    data = _kernel_data(conn, fin)
    if data is None:
        return NotReached(_("the kernel sent no data after your FIN (lab.app_send())"))
    size = len(data.segment.payload)
    mine = [s for s in _before(conn, data, _kernel_fin_after(conn, data)) if _is_ack(s)]
    if not mine:
        return Fail(
            _("you sent nothing between the kernel's {n} bytes and its FIN").format(n=size),
            cause="data",
        )
    ack = mine[0]
    dropped = _dropped_for_seq(conn, ack)
    if dropped:
        return Fail(
            _("your ACK of its data was dropped: {why}").format(why=dropped), cause="after-fin-seq"
        )
    wrong = conn.diagnose(ack, "ack")
    if wrong or not conn.accepted(ack):
        return Fail(
            _("{wrong}; {reaction}").format(
                wrong=wrong or conn.show(ack), reaction=conn.reaction(ack)
            ),
            cause="data",
        )
    return Pass(_("{n} bytes; your ack was {ack}").format(n=size, ack=conn.ack_text(ack)))


@checks.add(
    LAST_ACK_TITLE,
    1,
    hints=(
        N_("watch the kernel's socket when its application closes"),
        N_("the application's close() in CLOSE_WAIT sends the kernel's own FIN"),
        N_("CLOSE_WAIT -> LAST_ACK on lab.app_close(), with a FIN"),
    ),
    why=N_(
        "the application's close() sends the second FIN; the kernel waits for its acknowledgment"
    ),
    needs=(CLOSE_WAIT_TITLE,),
)
def last_ack(conn: ObservedConn) -> Pass | NotReached:
    fin = _accepted_fin(conn)
    if fin is None:
        return NotReached(_("the kernel did not take your FIN"))
    theirs = _kernel_fin_after(conn, fin)
    if theirs is None:
        return NotReached(_("the kernel sent no FIN: its application did not close the connection"))
    if not conn.reached(State.LAST_ACK):
        return NotReached(
            _("its FIN came, but the kernel's socket: {states}").format(states=_ladder(conn))
        )
    return Pass(
        _("its FIN {segment}; the kernel's socket: {states}").format(
            segment=conn.show(theirs), states=_ladder(conn)
        )
    )


@checks.add(
    FINAL_TITLE,
    2,
    hints=(
        N_("look at the kernel's FIN: which of its numbers does your last ACK answer?"),
        N_("the kernel's FIN occupies one sequence number, like its SYN did"),
        N_("ack = the FIN's seq + 1"),
    ),
    why=N_("only an ACK of its FIN lets the kernel leave LAST_ACK"),
    needs=(LAST_ACK_TITLE,),
)
def final_ack(conn: ObservedConn) -> Pass | Fail | NotReached:
    fin = _accepted_fin(conn)
    theirs = _kernel_fin_after(conn, fin) if fin is not None else None
    if theirs is None:
        return NotReached(_("the kernel sent no FIN"))
    after = conn.crafted_after(theirs)
    if not after:
        return Fail(_("you sent nothing after the kernel's FIN"), cause="final")
    if Flags.RST in after[0].segment.flags:
        return Fail(
            _("you answered its FIN with {segment}, not an ACK: {reaction}").format(
                segment=conn.show(after[0]), reaction=conn.reaction(after[0])
            ),
            cause="final-rst",
        )
    last = next((s for s in after if _is_ack(s) and conn.accepted(s)), after[0])
    dropped = _dropped_for_seq(conn, last)
    if dropped:
        return Fail(
            _("your last ACK was dropped: {why}").format(why=dropped), cause="after-fin-seq"
        )
    wrong = conn.diagnose(last, "ack")
    if wrong or not conn.accepted(last):
        return Fail(
            _("{wrong}; {reaction}").format(
                wrong=wrong or conn.show(last), reaction=conn.reaction(last)
            ),
            cause="final",
        )
    return Pass(
        _("your ack was {ack}; {reaction}").format(
            ack=conn.ack_text(last), reaction=conn.reaction(last)
        )
    )


@checks.add(
    N_("the kernel's socket is gone at the end, with no TIME_WAIT"),
    1,
    hints=(
        N_("watch the kernel's socket after your last ACK"),
        N_(
            "the side that closes second does not wait: TIME_WAIT belongs to the side that "
            "closed first"
        ),
        N_("LAST_ACK -> CLOSED on your ACK of its FIN"),
    ),
    why=N_("the side that closes second goes straight to CLOSED; TIME_WAIT is yours, not its"),
    needs=(FINAL_TITLE,),
)
def gone(conn: ObservedConn) -> Pass | Fail | NotReached:
    fin = _accepted_fin(conn)
    theirs = _kernel_fin_after(conn, fin) if fin is not None else None
    if theirs is None or not conn.reached(State.LAST_ACK):
        return NotReached(_("the kernel never reached LAST_ACK"))
    ladder = _ladder(conn)
    last = next((s for s in conn.crafted_after(theirs) if _is_ack(s) and conn.accepted(s)), None)
    if last is None:
        return NotReached(
            _("the kernel took no ACK of its FIN; its socket: {states}").format(states=ladder)
        )
    if State.TIME_WAIT in conn.states():
        return Fail(_("the kernel's socket: {states}").format(states=ladder), cause="time-wait")
    rec = conn.predicted(last)
    if rec is None or rec.prediction.place.state is not State.CLOSED:
        return NotReached(_("the kernel's socket: {states}").format(states=ladder))
    return Pass(_("the kernel's socket: {states}").format(states=ladder))


def _is_ack(seen: Seen) -> bool:
    flags = seen.segment.flags
    return Flags.ACK in flags and not flags & (Flags.SYN | Flags.RST | Flags.FIN)


def _ladder(conn: ObservedConn) -> str:
    return " -> ".join(s.value for s in conn.states()) or _("no socket seen")
