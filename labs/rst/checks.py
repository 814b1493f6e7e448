"""Checks for lab 5 (RST on a stale SYN+ACK, a closed port, the challenge ACK), on what the kernel
host saw.

Three connections: (a) the kernel's own connect() to your lab.sport, keyed (lab.sport, the kernel's
ephemeral port); (b) your SYN to a closed port; (c) your connection to the application's port 7788.
What the kernel must answer comes from tcplab's model (the rule it applies to your segment, and
whether the kernel did what it predicts); these checks judge your own segments.
"""

from tcplab.defaults import APP_PORT
from tcplab.exercise.kit import Checklist, Observation, ObservedConn
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.state import State

checks = Checklist()


def _signed(n: int | None) -> str:
    """A difference of sequence numbers, as '+ 1' or '- 999'."""
    if n is None:
        return "?"
    n = n % 2**32
    return f"+ {n}" if n < 2**31 else f"- {2**32 - n}"


def _kernel_connect(obs: Observation) -> ObservedConn | None:
    """(a) The connection the kernel opened: its first segment is the kernel's SYN."""
    for c in obs.conns:
        first = c.segments[0] if c.segments else None
        if first is not None and first.from_kernel and first.segment.flags == Flags.SYN:
            return c
    return None


def _closed_port(obs: Observation) -> ObservedConn | None:
    """(b) Your SYN to a port other than the application's."""
    for c in obs.conns:
        first = c.segments[0] if c.segments else None
        if (
            first
            and not first.from_kernel
            and first.segment.flags == Flags.SYN
            and c.kport != APP_PORT
        ):
            return c
    return None


def _established(obs: Observation) -> ObservedConn | None:
    """(c) Your connection to the application's port: you completed its handshake."""
    for c in obs.conns:
        if c.kport == APP_PORT and any(c.rel_ack(a, False) == 1 for a in c.crafted(Flags.ACK)):
            return c
    return None


def _stale(conn: ObservedConn) -> tuple[int, Segment] | None:
    """Your first SYN+ACK with a wrong ack (index, segment), if it came before any right one."""
    for i, s in enumerate(conn.segments):
        if not s.from_kernel and s.segment.flags == Flags.SYN | Flags.ACK:
            return None if conn.rel_ack(s.segment, False) == 1 else (i, s.segment)
    return None


def _reset_of(conn: ObservedConn, index: int) -> int | None:
    """Index of the kernel's answer to the stale SYN+ACK at `index` (as the model explains it)."""
    answer = conn.answer(conn.segments[index])
    return next((i for i, s in enumerate(conn.segments) if s.segment is answer), None)


@checks.add(
    "(a) you answer the kernel's SYN with a SYN+ACK whose ack is wrong",
    1,
    hint="after kport = lab.app_connect(), answer the kernel's SYN (lab.expect(flags='S')) "
    "with flags 'SA' from lab.sport to kport and an ack other than its seq + 1, as an old "
    "duplicate would carry",
    why="an old duplicate SYN+ACK from an earlier incarnation acknowledges a SYN the kernel "
    "never sent in this connection",
)
def stale_synack(obs: Observation) -> tuple[bool, str]:
    conn = _kernel_connect(obs)
    if conn is None:
        return False, "the kernel never connected (call lab.app_connect())"
    got = _stale(conn)
    if got is None:
        return False, "your first SYN+ACK acknowledged the kernel's ISN + 1, as a valid one does"
    return True, f"your ack was the kernel's ISN {_signed(conn.rel_ack(got[1], False))}"


@checks.add(
    "(a) the kernel resets the stale SYN+ACK: RST, seq = its ack, no ACK flag",
    2,
    hint="send the wrong SYN+ACK and wait for the kernel's answer: lab.expect(flags='R', "
    "port=lab.sport)",
    why="a SYN+ACK whose ack is not ISN + 1 is unacceptable in SYN_SENT: the kernel resets it "
    "with seq = that ack, so the other end can accept the RST (RFC 9293 §3.5, §3.10.7.3)",
)
def stale_reset(obs: Observation) -> tuple[bool, str]:
    conn = _kernel_connect(obs)
    got = _stale(conn) if conn else None
    if got is None:
        return False, "no SYN+ACK with a wrong ack from you"
    index, stale = got
    ok, said = conn.verdict(stale, "syn-sent-bad-ack")
    r = _reset_of(conn, index)
    if r is None:
        return False, f"the kernel did not answer; {said}"
    rst = conn.segments[r].segment
    return ok, f"the kernel sent {rst.flags.letters}, seq = your ack {_signed(rst.seq - stale.ack)}"


@checks.add(
    "(a) the kernel stays in SYN_SENT: your right SYN+ACK then completes the connection",
    3,
    hint="after the RST the kernel still waits for a valid answer (it even resends its SYN): "
    "answer with SYN+ACK, ack = its ISN + 1; it ACKs and is ESTABLISHED",
    why="the RST ends only the old duplicate, not the kernel's own connection attempt: this is "
    "why the handshake has a third segment (RFC 9293 §3.5, figure 8)",
)
def completes(obs: Observation) -> tuple[bool, str]:
    conn = _kernel_connect(obs)
    got = _stale(conn) if conn else None
    if got is None:
        return False, "no SYN+ACK with a wrong ack from you"
    r = _reset_of(conn, got[0])
    if r is None:
        return False, "the kernel did not reset your stale SYN+ACK"
    later = conn.segments[r + 1 :]
    good = [
        s.segment
        for s in later
        if not s.from_kernel
        and s.segment.flags == Flags.SYN | Flags.ACK
        and conn.rel_ack(s.segment, False) == 1
    ]
    if not good:
        return False, "no SYN+ACK with ack = the kernel's ISN + 1 after its RST"
    acked = any(conn.verdict(g, "syn-sent-syn-ack")[0] for g in good)
    seen = conn.states()
    ok = (
        acked
        and State.ESTABLISHED in seen
        and State.CLOSED not in seen[: seen.index(State.ESTABLISHED)]
    )
    return ok, " -> ".join(seen)


@checks.add(
    "(b) a SYN to a closed port gets RST+ACK: seq 0, ack = your seq + its length (+1 for SYN)",
    2,
    hint="send a SYN from lab.new_port() to a port where nothing listens (9, say) and read "
    "the answer",
    why="a segment without ACK to a closed port is answered with RST+ACK, seq 0, ack = its "
    "seq + its length; the SYN counts one (RFC 9293 §3.10.7.1)",
)
def closed_port(obs: Observation) -> tuple[bool, str]:
    conn = _closed_port(obs)
    if conn is None:
        return False, f"no SYN from you to a port other than {APP_PORT}"
    syn = conn.crafted(Flags.SYN)[0]
    ok, said = conn.verdict(syn, "closed-no-ack")
    rst = conn.answer(syn)
    if rst is None:
        return False, f"port {conn.kport} did not answer; {said}"
    return (
        ok,
        f"port {conn.kport}: {rst.flags.letters} seq {rst.seq} ack = your seq {_signed(rst.ack - syn.seq)}",
    )


def _challenge(conn: ObservedConn) -> tuple[int, Segment, Segment] | None:
    """Your SYN on the established connection, the kernel's answer (index of the answer: the
    kernel segment the model explains by that SYN)."""
    syns = [
        i for i, s in enumerate(conn.segments) if not s.from_kernel and s.segment.flags == Flags.SYN
    ]
    acked = [
        i
        for i, s in enumerate(conn.segments)
        if not s.from_kernel
        and s.segment.flags == Flags.ACK
        and conn.rel_ack(s.segment, False) == 1
    ]
    for i in syns:
        if not acked or i < acked[0]:
            continue  # the first SYN, or one before the handshake completed
        answer = conn.answer(conn.segments[i])
        j = next((j for j, s in enumerate(conn.segments) if s.segment is answer), None)
        if answer is not None and j is not None:
            return j, conn.segments[i].segment, answer
    return None


@checks.add(
    "(c) a SYN on an established connection gets a challenge ACK, not a RST",
    3,
    hint="complete a handshake from a new port to lab.dport, pause (time.sleep(0.05)), then "
    "send a SYN from that port with another seq, as a rebooted host would",
    why="since RFC 5961 §4 a SYN in a synchronized state is answered with an ACK carrying the "
    "right numbers (seq = snd_nxt, ack = rcv_nxt); a blind attacker learns nothing, and the "
    "connection is not torn down",
)
def challenge_ack(obs: Observation) -> tuple[bool, str]:
    conn = _established(obs)
    if conn is None:
        return False, f"no connection from you to port {APP_PORT}"
    got = _challenge(conn)
    if got is None:
        return False, "no SYN from you after the handshake (or no answer to it)"
    _, syn, ack = got
    ok, said = conn.verdict(syn, "syn-challenge-ack")
    seq_rel, ack_rel = conn.rel_seq(ack, True), conn.rel_ack(ack, True)
    shown = f"the kernel answered {ack.flags.letters} seq ISN + {seq_rel} ack your ISN + {ack_rel}"
    return ok, shown if ok else f"{shown}; {said}"


@checks.add(
    "(c) your RST with seq = the challenge ACK's ack ends the connection",
    2,
    hint="a rebooted host answers the challenge ACK with RST whose seq is exactly the "
    "challenge ACK's ack (the kernel's rcv_nxt)",
    why="only the real peer can see the challenge ACK, so only it can send the exact RST "
    "(RFC 5961 §3.2); Linux accepts a RST only at seq == rcv_nxt",
)
def exact_reset(obs: Observation) -> tuple[bool, str]:
    conn = _established(obs)
    got = _challenge(conn) if conn else None
    if got is None:
        return False, "no challenge ACK to answer"
    j, _, challenge = got
    rsts = [
        s.segment
        for s in conn.segments[j + 1 :]
        if not s.from_kernel and Flags.RST in s.segment.flags
    ]
    if not rsts:
        return False, "you sent no RST after the challenge ACK"
    exact = [r for r in rsts if r.seq == challenge.ack]
    reset = any(conn.verdict(r, "rst-exact")[0] for r in exact)
    seen = conn.states()
    closed = reset and bool(seen) and seen[-1] is State.CLOSED
    off = _signed(rsts[0].seq - challenge.ack)
    return bool(
        exact
    ) and closed, f"your RST's seq was the challenge ACK's ack {off}; " + " -> ".join(seen)
