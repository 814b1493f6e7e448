"""Checks for lab 5 (RST on a stale SYN+ACK, a closed port, the challenge ACK), on what the kernel
host saw.

Three parts on three connections, each found by what it does, never by order: (a) a connection the
kernel opened (its first segment is the kernel's SYN); (b) your SYN to a port where nothing listens;
(c) your connection to the application's port on which you sent a SYN once it was established. For
each part every candidate is judged and the best counts, so other experiments before, between or
after cost nothing. What the kernel does with each of your segments is tcplab's model's to say
(conn.verdict / reaction / diagnose); these checks only pick your segments.
"""

from collections.abc import Callable

from tcplab.exercise.kit import (
    Checklist,
    Fail,
    NotReached,
    Observation,
    ObservedConn,
    Pass,
    Seen,
    signed,
)
from tcplab.i18n import N_, _
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()


def _both(first: str, then: str) -> str:
    """Two findings of one message: "{first}; {then}"."""
    # TRANSLATORS: two clauses of one message (the second often says what the kernel did)
    return _("{first}; {then}").format(first=first, then=then)


SYN_ACK = Flags.SYN | Flags.ACK
BAD_ACK_RULES = ("syn-sent-bad-ack", "syn-sent-bad-ack-retransmitted")
CHALLENGE_RULES = ("syn-challenge-ack",)
Verdict = Pass | Fail | NotReached


def _best(
    obs: Observation, conns: list[ObservedConn], *steps: Callable[[ObservedConn], Verdict]
) -> ObservedConn | None:
    """The candidate that gets furthest through `steps` (ties: the later one)."""
    return obs.best(conns, lambda c: sum(1 for step in steps if isinstance(step(c), Pass)))


# -- (a) the kernel's own connect() -----------------------------------------------------------------
def _kernel_opened(obs: Observation) -> list[ObservedConn]:
    """Connections whose first segment is the kernel's SYN (lab.app_connect())."""
    return obs.conns_with(
        lambda c: (
            bool(c.segments)
            and c.segments[0].from_kernel
            and c.segments[0].segment.flags == Flags.SYN
        )
    )


def _stale(conn: ObservedConn) -> Seen | None:
    """Your first SYN+ACK on the kernel's connection."""
    return conn.first_crafted(flags=SYN_ACK)


def _reset_of(conn: ObservedConn, stale: Seen) -> Seen | None:
    """The kernel's RST after your stale SYN+ACK."""
    return next((s for s in conn.kernel_after(stale) if Flags.RST in s.segment.flags), None)


def _elsewhere(obs: Observation, conn: ObservedConn) -> str:
    """Where your SYN+ACKs from the same port went instead of the kernel's port, if anywhere."""
    ports = sorted(
        {c.kport for c in obs.conns if c.sport == conn.sport and c is not conn and c.crafted("SA")}
    )
    if not ports:
        return ""
    shown = ", ".join(map(str, ports))
    return _("your SYN+ACK went to port {ports}, not to the kernel's port {kport}").format(
        ports=shown, kport=conn.kport
    )


def _part_a(obs: Observation) -> ObservedConn | None:
    return _best(obs, _kernel_opened(obs), _stale_test, _reset_test, _completes_test)


@checks.add(
    N_("(a) your stale SYN+ACK acknowledges a SYN never sent"),
    1,
    hints=(
        N_("look at the handout's figure: which SYN did the server answer first?"),
        N_(
            "an old duplicate's SYN+ACK acknowledges an old SYN, a number the kernel never sent in "
            "this connection"
        ),
        N_("send flags 'SA' from lab.sport to kport with ack = X - 999 (X: the SYN's seq)"),
    ),
    why=N_(
        "an old duplicate SYN+ACK from an earlier incarnation acknowledges a SYN the kernel "
        "never sent in this connection"
    ),
)
def stale_synack(obs: Observation) -> Verdict:
    conn = _part_a(obs)
    if conn is None:
        return NotReached(_("the kernel never connected to you (lab.app_connect())"))
    got, where = _stale_test(conn), _elsewhere(obs, conn)
    if isinstance(got, Fail) and where:
        return Fail(_both(where, got.detail), got.cause)
    if isinstance(got, NotReached) and where:
        return NotReached(_both(where, got.detail))
    return got


def _stale_test(conn: ObservedConn) -> Verdict:
    stale = _stale(conn)
    if stale is None:
        return NotReached(
            _("you sent no SYN+ACK to the kernel's port {kport}").format(kport=conn.kport)
        )
    if conn.diagnose(stale, "ack") is None:
        return Fail(
            _(
                "your first SYN+ACK acknowledged {ack}, as a valid one does; "
                "{reaction}: the old duplicate must come first, in SYN_SENT"
            ).format(ack=conn.ack_text(stale), reaction=conn.reaction(stale)),
            cause="no-old-duplicate",
        )
    return Pass(_("your ack was {ack}").format(ack=conn.ack_text(stale)))


@checks.add(
    N_("(a) the kernel resets your stale SYN+ACK"),
    2,
    hints=(
        N_("wait for the kernel's answer: lab.expect(flags='R', port=lab.sport)"),
        N_("a SYN+ACK whose ack is not the kernel's ISN + 1 is unacceptable in SYN_SENT"),
        N_("the RST's seq is your SYN+ACK's ack, so that you would accept it"),
    ),
    why=N_(
        "a SYN+ACK whose ack is not ISN + 1 is unacceptable in SYN_SENT: the kernel resets it "
        "with seq = that ack, so the other end can accept the RST (RFC 9293 §3.5, §3.10.7.3)"
    ),
    needs=("(a) your stale SYN+ACK acknowledges a SYN never sent",),
)
def stale_reset(obs: Observation) -> Verdict:
    conn = _part_a(obs)
    if conn is None:
        return NotReached(_("the kernel never connected to you"))
    return _reset_test(conn)


def _reset_test(conn: ObservedConn) -> Verdict:
    stale = _stale(conn)
    if stale is None or conn.diagnose(stale, "ack") is None:
        return NotReached(_("no SYN+ACK with a wrong ack from you"))
    ok, said = conn.verdict(stale, *BAD_ACK_RULES)
    rst = _reset_of(conn, stale)
    if not ok or rst is None:
        return Fail(_both(conn.reaction(stale), said), cause="kernel")
    off = rst.segment.seq - stale.segment.ack
    same = _("equal to your ack") if off == 0 else _("your ack{off}").format(off=signed(off))
    return Pass(_("the kernel sent {segment}, {same}").format(segment=conn.show(rst), same=same))


@checks.add(
    N_("(a) your right SYN+ACK then completes the connection"),
    3,
    hints=(
        N_("after its RST, is the kernel still connecting? Look for its SYN again"),
        N_(
            "the RST ends only the old duplicate; a SYN+ACK acknowledges the SYN, which occupies "
            "one sequence number"
        ),
        N_("answer with SYN+ACK, ack = the SYN's seq + 1; the kernel ACKs and is ESTABLISHED"),
    ),
    why=N_(
        "the RST ends only the old duplicate, not the kernel's own connection attempt: this is "
        "why the handshake has a third segment (RFC 9293 §3.5, figure 8)"
    ),
    needs=("(a) the kernel resets your stale SYN+ACK",),
)
def completes(obs: Observation) -> Verdict:
    conn = _part_a(obs)
    if conn is None:
        return NotReached(_("the kernel never connected to you"))
    return _completes_test(conn)


def _completes_test(conn: ObservedConn) -> Verdict:
    stale = _stale(conn)
    rst = _reset_of(conn, stale) if stale is not None else None
    if stale is None or rst is None:
        return NotReached(_("the kernel did not reset a stale SYN+ACK of yours"))
    tries = [s for s in conn.crafted_after(rst) if s.segment.flags == SYN_ACK]
    if not tries:
        return NotReached(_("you sent no SYN+ACK after the kernel's RST"))
    good = next((s for s in tries if conn.accepted(s)), tries[0])
    wrong = conn.diagnose(good, "ack")
    if wrong:
        return Fail(_both(wrong, conn.reaction(good)), cause="a-ack")
    shown = " -> ".join(s.value for s in conn.states()) or _("no socket seen")
    if not conn.accepted(good) or not conn.reached(State.ESTABLISHED):
        return Fail(
            _("{reaction}; the kernel's socket: {states}").format(
                reaction=conn.reaction(good), states=shown
            ),
            cause="kernel",
        )
    return Pass(
        _("your ack was {ack}; the kernel's socket: {states}").format(
            ack=conn.ack_text(good), states=shown
        )
    )


# -- (b) a closed port --------------------------------------------------------------------------------
def _closed_syns(obs: Observation) -> list[tuple[ObservedConn, Seen]]:
    """Your SYNs to ports where, by tcplab's model, no socket was."""
    out = []
    for c in obs.conns:
        for s in c.segments:
            if not s.from_kernel and s.segment.flags == Flags.SYN:
                rec = c.predicted(s)
                if rec is not None and rec.prediction.rule == "closed-no-ack":
                    out.append((c, s))
    return out


@checks.add(
    N_("(b) a SYN to a closed port gets RST+ACK"),
    2,
    hints=(
        N_(
            "send a SYN from lab.new_port() to a port where nothing listens (9, say) and read the "
            "answer"
        ),
        N_("a segment without ACK to a closed port is answered with RST+ACK"),
        N_("the RST+ACK has seq 0 and ack = your SYN's seq + 1"),
    ),
    why=N_(
        "a segment without ACK to a closed port is answered with RST+ACK, seq 0, ack = its "
        "seq + its length; the SYN counts one (RFC 9293 §3.10.7.1)"
    ),
)
def closed_port(obs: Observation) -> Verdict:
    found = _closed_syns(obs)
    if not found:
        ports = sorted({c.kport for c in obs.conns if c.crafted("S")})
        if ports:
            return NotReached(
                _(
                    "you sent no SYN to a port where nothing listens; your SYNs went to port {ports}"
                ).format(ports=", ".join(map(str, ports)))
            )
        return NotReached(_("you sent no SYN to a port where nothing listens"))
    answered = [(c, s) for c, s in found if c.verdict(s, "closed-no-ack")[0] and c.answer(s)]
    if not answered:
        conn, syn = found[-1]
        return Fail(conn.reaction(syn), cause="kernel")
    conn, syn = answered[-1]
    rst = conn.answer(syn)
    assert rst is not None
    return Pass(
        _("port {port} answered RST+ACK seq {seq}, ack = your seq{off}").format(
            port=conn.kport, seq=rst.seq, off=signed(rst.ack - syn.segment.seq)
        )
    )


# -- (c) a SYN on an established connection ------------------------------------------------------------
def _established_syn(conn: ObservedConn) -> Seen | None:
    """Your SYN that found the connection synchronized (the model's challenge-ACK rules): the
    first the kernel answered, else the first."""
    syns = [
        s
        for s in conn.segments
        if not s.from_kernel
        and s.segment.flags & (Flags.SYN | Flags.RST) == Flags.SYN
        and (rec := conn.predicted(s)) is not None
        and rec.prediction.rule.startswith("syn-challenge-ack")
    ]
    return next(
        (s for s in syns if conn.verdict(s, *CHALLENGE_RULES)[0]), syns[0] if syns else None
    )


def _no_challenge(conn: ObservedConn) -> NotReached:
    synack = conn.kernel_synack()
    if synack is None:
        return NotReached(
            _("the application's port {kport} never answered your SYN").format(kport=conn.kport)
        )
    acks = [s for s in conn.crafted_after(synack) if s.segment.flags == Flags.ACK]
    if not acks:
        return NotReached(
            _("you did not complete the handshake from port {port}").format(port=conn.sport)
        )
    if not any(conn.accepted(a) for a in acks):
        wrong = conn.diagnose(acks[0], "ack") or conn.diagnose(acks[0], "seq")
        return NotReached(
            _("your handshake from port {port} did not complete: {wrong}").format(
                port=conn.sport, wrong=wrong
            )
        )
    return NotReached(
        _("you sent no SYN on your established connection from port {port}").format(port=conn.sport)
    )


def _challenge_test(conn: ObservedConn) -> Verdict:
    syn = _established_syn(conn)
    if syn is None:
        return _no_challenge(conn)
    ok, said = conn.verdict(syn, *CHALLENGE_RULES)
    if not ok:
        return Fail(_both(conn.reaction(syn), said), cause="challenge")
    return Pass(
        _("{reaction}; the connection stays ESTABLISHED").format(reaction=conn.reaction(syn))
    )


def _exact_rst_test(conn: ObservedConn) -> Verdict:
    syn = _established_syn(conn)
    challenge = conn.answer(syn) if syn is not None else None
    if syn is None or challenge is None:
        return NotReached(_("no challenge ACK to answer"))
    rsts = [s for s in conn.crafted_after(challenge) if Flags.RST in s.segment.flags]
    if not rsts:
        return NotReached(_("you sent no RST after the challenge ACK"))
    rst = next((r for r in rsts if conn.accepted(r)), rsts[0])
    if not conn.accepted(rst):
        wrong = conn.diagnose(rst, "seq") or _("the kernel did not take it")
        return Fail(_both(wrong, conn.reaction(rst)), cause="c-rst")
    shown = " -> ".join(s.value for s in conn.states()) or _("no socket seen")
    return Pass(
        _("your RST's seq was {seq}; the kernel's socket: {states}").format(
            seq=conn.seq_text(rst), states=shown
        )
    )


def _part_c(obs: Observation) -> ObservedConn | None:
    return _best(obs, obs.attempts(), _challenge_test, _exact_rst_test)


@checks.add(
    N_("(c) a SYN on an established connection: challenge ACK"),
    3,
    hints=(
        N_(
            "complete a handshake from a new port to lab.dport, pause, then send a SYN from that "
            "port with another seq, as a rebooted host would"
        ),
        N_("Linux follows RFC 5961 §4 here, not RFC 793"),
        N_("pause (time.sleep(0.05)) after your ACK, then send flags 'S' with any seq"),
    ),
    why=N_(
        "since RFC 5961 §4 a SYN in a synchronized state is answered with an ACK carrying the "
        "right numbers (seq = snd_nxt, ack = rcv_nxt); a blind attacker learns nothing, and the "
        "connection is not torn down"
    ),
)
def challenge_ack(obs: Observation) -> Verdict:
    conn = _part_c(obs)
    if conn is None:
        ports = ", ".join(map(str, sorted(obs.ports)))
        return NotReached(
            _("you opened no connection to the application's port {ports}").format(ports=ports)
        )
    return _challenge_test(conn)


@checks.add(
    N_("(c) your RST after the challenge ACK ends the connection"),
    2,
    hints=(
        N_(
            "look at the challenge ACK's numbers: which of them names what the kernel expects of "
            "you next?"
        ),
        N_("Linux accepts a RST only at exactly seq == rcv_nxt (RFC 5961 §3.2)"),
        N_("a RST whose seq is the challenge ACK's ack"),
    ),
    why=N_(
        "only the real peer can see the challenge ACK, so only it can send the exact RST "
        "(RFC 5961 §3.2); Linux accepts a RST only at seq == rcv_nxt"
    ),
    needs=("(c) a SYN on an established connection: challenge ACK",),
)
def exact_reset(obs: Observation) -> Verdict:
    conn = _part_c(obs)
    if conn is None:
        return NotReached(_("no challenge ACK to answer"))
    return _exact_rst_test(conn)
