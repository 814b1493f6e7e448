"""Checks for lab 2 (data on the third segment; what uses sequence numbers), on what the kernel
host saw.

Each connection you open to the application's port is judged on its own and the best one counts:
experiments before, between or after cost nothing. Every number is judged against what the
kernel's TCB held when your segment arrived (tcplab's model), so a mistake is charged where it
happened and later steps are judged against what the kernel actually had; points come only for
what the kernel accepted.
"""

from tcplab.exercise.kit import N_, Checklist, Fail, NotReached, ObservedConn, Pass, Seen, _
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist(per_connection=True)

ACK_TITLE = N_("your third segment acknowledges the kernel's SYN")
SEQ_TITLE = N_("your third segment's seq follows your SYN")
ESTABLISHED_TITLE = N_("the kernel's socket reaches ESTABLISHED")
BARE_TITLE = N_("your bare ACK's seq is the next byte after your data")
SECOND_TITLE = N_("your next data has the bare ACK's seq")


def _third(conn: ObservedConn) -> Seen | None:
    return conn.handshake_ack()


def _no_third(conn: ObservedConn) -> NotReached:
    return NotReached(conn.no_handshake_ack())


def _data(conn: ObservedConn, after: Seen | None) -> list[Seen]:
    """Your segments with data after `after` (no SYN, no RST), in the order sent."""
    return [
        s
        for s in conn.crafted_after(after)
        if s.segment.payload and not s.segment.flags & (Flags.SYN | Flags.RST)
    ]


def _first_data(conn: ObservedConn) -> Seen | None:
    """Your first data the kernel accepted (the lab's `hello`)."""
    return next((s for s in _data(conn, conn.kernel_synack()) if conn.accepted(s)), None)


def _bare(conn: ObservedConn, first: Seen) -> Seen | None:
    """Your first bare ACK (flags A, no data) after your first data."""
    return next(
        (
            s
            for s in conn.crafted_after(first)
            if s.segment.flags == Flags.ACK and not s.segment.payload
        ),
        None,
    )


def _second(conn: ObservedConn, first: Seen) -> Seen | None:
    data = _data(conn, first)
    return data[0] if data else None


def _all_taken(conn: ObservedConn, seen: Seen) -> bool:
    """The kernel took this data in order and acknowledged all of it (the model's answer, which
    the kernel gave)."""
    rec = conn.predicted(seen)
    pattern = rec.prediction.pattern if rec is not None else None
    return (
        conn.accepted(seen)
        and conn.diagnose(seen, "seq") is None
        and pattern is not None
        and pattern.ack == seen.segment.end_seq
    )


@checks.add(
    ACK_TITLE,
    2,
    hints=(
        N_("look at the kernel's SYN+ACK: which of its numbers does your third segment answer?"),
        N_("an ACK names the next number it expects; the kernel's SYN occupied one number"),
        N_("ack = the SYN+ACK's seq + 1"),
    ),
    why=N_("only an acceptable ack turns the kernel's half-open request into a connection"),
)
def third_ack(conn: ObservedConn) -> Pass | Fail | NotReached:
    third = _third(conn)
    if third is None:
        return _no_third(conn)
    wrong = conn.diagnose(third, "ack")
    if wrong:
        return Fail(
            _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(third)),
            cause="third-ack",
        )
    return Pass(_("your ack was {ack}").format(ack=conn.ack_text(third)))


@checks.add(
    SEQ_TITLE,
    1,
    hints=(
        N_("compare your third segment's seq with your SYN's seq"),
        N_("your SYN occupied one sequence number; your first byte of data comes after it"),
        N_("seq = your ISN + 1"),
    ),
    why=N_("the kernel places your bytes in its stream by their sequence numbers"),
)
def third_seq(conn: ObservedConn) -> Pass | Fail | NotReached:
    third = _third(conn)
    if third is None:
        return _no_third(conn)
    wrong = conn.diagnose(third, "seq")
    if wrong:
        return Fail(
            _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(third)),
            cause="third-seq",
        )
    return Pass(_("your seq was {seq}").format(seq=conn.seq_text(third)))


@checks.add(
    N_("your third segment carries data, and the kernel takes it"),
    2,
    hints=(
        N_("look at the segment that answers the SYN+ACK: does it carry any bytes?"),
        N_("any segment with ACK may carry data, the one that completes the handshake too"),
        N_("send the third segment with flags 'PA' and the payload: .../TCP(...)/b'hello'"),
    ),
    why=N_("RFC 9293 §3.5 lets the segment that completes the handshake carry data"),
    needs=(ACK_TITLE, SEQ_TITLE),
)
def third_data(conn: ObservedConn) -> Pass | Fail | NotReached:
    third = _third(conn)
    if third is None:
        return _no_third(conn)
    if not third.segment.payload:
        shown = conn.show(third)
        if _first_data(conn):
            said = _("your third segment was {segment} (your data came in a later segment)")
        else:
            said = _("your third segment was {segment}")
        return Fail(said.format(segment=shown), cause="no-data")
    if not conn.accepted(third):
        return NotReached(
            _("the kernel did not take it: {reaction}").format(reaction=conn.reaction(third))
        )
    answer = conn.answer(third)
    n = len(third.segment.payload)
    if answer is None:
        return Pass(_("{n} bytes").format(n=n))
    return Pass(_("{n} bytes; it answered {segment}").format(n=n, segment=conn.show(answer)))


@checks.add(
    ESTABLISHED_TITLE,
    2,
    hints=(
        N_("watch the kernel's socket: 'tcplab sockets' or ss in the kernel host"),
        N_(
            "the segment that acceptably acknowledges the SYN+ACK opens the connection, data or not"
        ),
        N_(
            "SYN_RECEIVED -> ESTABLISHED on your third segment; its data waits in the receive queue"
        ),
    ),
    why=N_("the same segment opens the connection and queues its data for the application"),
    needs=(ACK_TITLE, SEQ_TITLE),
)
def established(conn: ObservedConn) -> Pass | NotReached:
    third = _third(conn)
    if third is None:
        return _no_third(conn)
    shown = " -> ".join(s.value for s in conn.states()) or _("no socket seen")
    if not conn.accepted(third) or not conn.reached(State.ESTABLISHED):
        return NotReached(
            _("the kernel's socket: {states}; {reaction}").format(
                states=shown, reaction=conn.reaction(third)
            )
        )
    return Pass(_("the kernel's socket: {states}").format(states=shown))


@checks.add(
    BARE_TITLE,
    1,
    hints=(
        N_("compare your bare ACK's seq with your data segment's seq and length"),
        N_("every byte of data occupies one sequence number"),
        N_("seq = your data's seq + its length (your ISN + 6 after b'hello')"),
    ),
    why=N_("the next segment you send starts at the next unused sequence number"),
    needs=(ESTABLISHED_TITLE,),
)
def bare_ack(conn: ObservedConn) -> Pass | Fail | NotReached:
    first = _first_data(conn)
    if first is None:
        return NotReached(_("the kernel took no data of yours"))
    bare = _bare(conn, first)
    if bare is None:
        return NotReached(_("you sent no bare ACK (flags 'A', no data) after your data"))
    wrong = conn.diagnose(bare, "seq")
    if wrong:
        return Fail(
            _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(bare)),
            cause="bare-seq",
        )
    return Pass(
        _("your seq was {seq}; {reaction}").format(
            seq=conn.seq_text(bare), reaction=conn.reaction(bare)
        )
    )


@checks.add(
    SECOND_TITLE,
    2,
    hints=(
        N_("compare your second data segment's seq with your bare ACK's seq"),
        N_(
            "sequence numbers number the SYN, the bytes and the FIN; which of those does a bare ACK have?"
        ),
        N_("a bare ACK uses no number: the next data has the same seq as the bare ACK"),
    ),
    why=N_("the kernel's acks tell you which segments use sequence numbers (RFC 9293 §3.4)"),
    needs=(ESTABLISHED_TITLE,),
)
def second_seq(conn: ObservedConn) -> Pass | Fail | NotReached:
    first = _first_data(conn)
    if first is None:
        return NotReached(_("the kernel took no data of yours"))
    second = _second(conn, first)
    if second is None:
        return NotReached(_("you sent no second data after your first"))
    bare = _bare(conn, first)
    wrong = conn.diagnose(second, "seq")
    if wrong is None:
        return Pass(_("your second data's seq was {seq}").format(seq=conn.seq_text(second)))
    if bare is not None and bare.segment.seq == second.segment.seq:
        # the concept is right; the number repeats the bare ACK's, which is judged above
        return Pass(
            _("your second data's seq was your bare ACK's, {seq}").format(seq=conn.seq_text(second))
        )
    return Fail(
        _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(second)),
        cause="second-seq",
    )


@checks.add(
    N_("the kernel took all of your second data"),
    1,
    hints=(
        N_("look at the kernel's ack after your second data: does it cover all of it?"),
        N_(
            "the kernel takes bytes in order: data beyond its next expected byte waits, data "
            "below it is partly old"
        ),
        N_("the kernel's ack must be your second data's seq + its length"),
    ),
    why=N_("the kernel's ack moves on only when the bytes arrive in order"),
    needs=(SECOND_TITLE,),
)
def second_taken(conn: ObservedConn) -> Pass | Fail | NotReached:
    first = _first_data(conn)
    second = _second(conn, first) if first is not None else None
    if first is None or second is None:
        return NotReached(_("you sent no second data the kernel could take"))
    if _all_taken(conn, second):
        return Pass(conn.reaction(second))
    bare = _bare(conn, first)
    if bare is not None and bare.segment.seq == second.segment.seq and conn.diagnose(bare, "seq"):
        return Fail(conn.reaction(second), cause="bare-seq")
    return NotReached(conn.reaction(second))


@checks.add(
    N_("you never reset the connection"),
    1,
    hints=(
        N_("look for flags 'R' in what you sent"),
        N_("a RST aborts the connection and throws away what the application has not read"),
        N_("send only 'S', 'A' and 'PA' in this lab"),
    ),
    why=N_("the connection stays open: data, then a bare ACK, then more data"),
    needs=(ESTABLISHED_TITLE,),
)
def no_reset(conn: ObservedConn) -> Pass | Fail | NotReached:
    if not conn.reached(State.ESTABLISHED):
        return NotReached(_("the connection never opened"))
    rst = next((s for s in conn.crafted_after(_third(conn)) if Flags.RST in s.segment.flags), None)
    if rst is not None:
        return Fail(
            _("you sent {segment}; {reaction}").format(
                segment=conn.show(rst), reaction=conn.reaction(rst)
            ),
            cause="rst",
        )
    return Pass(_("no RST from you"))
