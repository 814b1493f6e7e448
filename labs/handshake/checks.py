"""Checks for lab 1 (the handshake), on what the kernel host saw.

Each connection you open to the application's port is judged on its own and the best one counts:
probing other ports or running the handout's experiments first costs nothing. Your ACK's numbers are
judged against what the kernel expected (its rcv_nxt and snd_nxt, from tcplab's model), and points
come only for what the kernel accepted.
"""

from tcplab.exercise.kit import N_, Checklist, Fail, NotReached, ObservedConn, Pass, Seen, _
from tcplab.model.state import State

checks = Checklist(per_connection=True)


def _third(conn: ObservedConn) -> Seen | None:
    return conn.handshake_ack()


def _no_third(conn: ObservedConn) -> NotReached:
    return NotReached(conn.no_handshake_ack())


@checks.add(
    N_("your ACK acknowledges the kernel's SYN"),
    4,
    hints=(
        N_("look at the kernel's SYN+ACK: which of its numbers does your ACK answer?"),
        N_("an ACK names the next number it expects; the kernel's SYN occupied one number"),
        N_("ack = the SYN+ACK's seq + 1"),
    ),
    why=N_(
        "acknowledging the kernel's ISN + 1 tells it its SYN arrived; nothing else completes it"
    ),
)
def ack_number(conn: ObservedConn) -> Pass | Fail | NotReached:
    ack = _third(conn)
    if ack is None:
        return _no_third(conn)
    wrong = conn.diagnose(ack, "ack")
    if wrong:
        return Fail(
            _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(ack)), cause="ack"
        )
    return Pass(_("your ack was {ack}").format(ack=conn.ack_text(ack)))


@checks.add(
    N_("your ACK's seq follows your SYN"),
    3,
    hints=(
        N_("compare your ACK's seq with your SYN's seq"),
        N_("your SYN occupied one sequence number of your own"),
        N_("seq = your ISN + 1"),
    ),
    why=N_("sequence numbers count the SYN and the bytes; the ACK comes right after the SYN"),
)
def seq_number(conn: ObservedConn) -> Pass | Fail | NotReached:
    ack = _third(conn)
    if ack is None:
        return _no_third(conn)
    wrong = conn.diagnose(ack, "seq")
    if wrong:
        return Fail(
            _("{wrong}; {reaction}").format(wrong=wrong, reaction=conn.reaction(ack)), cause="seq"
        )
    return Pass(_("your seq was {seq}").format(seq=conn.seq_text(ack)))


@checks.add(
    N_("the kernel's socket reaches ESTABLISHED"),
    3,
    hints=(
        N_("watch the kernel's socket: 'tcplab sockets' or ss in the kernel host"),
        N_("a listener's request becomes a connection only when the third segment is acceptable"),
        N_("LISTEN -> SYN_RECEIVED on your SYN, -> ESTABLISHED on your ACK"),
    ),
    why=N_("LISTEN -> SYN_RECEIVED on your SYN, -> ESTABLISHED on your ACK (RFC 9293 §3.5)"),
    needs=("your ACK acknowledges the kernel's SYN", "your ACK's seq follows your SYN"),
)
def established(conn: ObservedConn) -> Pass | Fail | NotReached:
    ack = _third(conn)
    if ack is None:
        return _no_third(conn)
    shown = " -> ".join(s.value for s in conn.states()) or _("no socket seen")
    if not conn.accepted(ack) or not conn.reached(State.ESTABLISHED):
        return NotReached(
            _("the kernel's socket: {states}; {reaction}").format(
                states=shown, reaction=conn.reaction(ack)
            )
        )
    return Pass(_("the kernel's socket: {states}").format(states=shown))
