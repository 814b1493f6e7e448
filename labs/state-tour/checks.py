"""Checks for lab 8 (the state tour), on what the kernel host saw.

Each state counts when tcplab's sampler saw it in the kernel's socket table. Where the student did not
pause and a state lived too briefly to be sampled, the capture can prove it too: each `*_on_wire`
function below says which segments the kernel can only have sent (or accepted) in that state, with
exact sequence numbers, so a check never depends on the sampler's luck. TIME_WAIT lasts 60 s and is
always sampled.
"""

from tcplab.defaults import APP_PORT
from tcplab.exercise.kit import Checklist, Observation, ObservedConn, Seen
from tcplab.model.flags import Flags
from tcplab.model.seqnum import seq_add
from tcplab.model.state import State

checks = Checklist()
PORT = APP_PORT  # the application's listener (lab.toml)
PAUSE_TIP = "; pause (time.sleep(0.05)) to see it in the socket table too"


# -- reading one connection ------------------------------------------------------------------------
def _theirs(conn: ObservedConn) -> list[tuple[int, Seen]]:
    return [(i, s) for i, s in enumerate(conn.segments) if s.from_kernel]


def _ours(conn: ObservedConn) -> list[tuple[int, Seen]]:
    return [(i, s) for i, s in enumerate(conn.segments) if not s.from_kernel]


def _first(items: list[tuple[int, Seen]], flag: Flags, after: int = -1) -> tuple[int, Seen] | None:
    return next(((i, s) for i, s in items if i > after and flag in s.segment.flags), None)


def _kernel_fin(conn: ObservedConn) -> tuple[int, Seen] | None:
    return _first(_theirs(conn), Flags.FIN)


def _student_fin(conn: ObservedConn) -> tuple[int, Seen] | None:
    return next(
        (
            (i, s)
            for i, s in _ours(conn)
            if Flags.FIN in s.segment.flags and Flags.RST not in s.segment.flags
        ),
        None,
    )


def _kernel_acks(conn: ObservedConn, after: int, ack: int) -> bool:
    """The kernel sent, after segment `after`, a segment acknowledging exactly `ack`."""
    return any(
        i > after and Flags.ACK in s.segment.flags and s.segment.ack == ack
        for i, s in _theirs(conn)
    )


def _kernel_closed_first(conn: ObservedConn) -> tuple[int, Seen] | None:
    """The kernel's FIN, if it came before any FIN of ours: sent from ESTABLISHED (FIN_WAIT_1)."""
    kf, sf = _kernel_fin(conn), _student_fin(conn)
    if kf is None or (sf is not None and sf[0] < kf[0]):
        return None
    return kf


# -- what the capture proves ---------------------------------------------------------------------
def syn_sent_on_wire(conn: ObservedConn) -> bool:
    """The kernel sent a bare SYN: connect() puts the socket in SYN_SENT."""
    return bool(conn.kernel(Flags.SYN))


def syn_received_on_wire(conn: ObservedConn) -> bool:
    """The kernel answered a SYN with SYN+ACK: it holds a half-open connection."""
    return bool(conn.kernel(Flags.SYN | Flags.ACK))


def established_on_wire(conn: ObservedConn) -> bool:
    """Our ACK with exactly the right numbers answered the kernel's SYN+ACK (as server), or the
    kernel ACKed our SYN+ACK (as client)."""
    synack = _first(_theirs(conn), Flags.SYN)
    if synack is not None and synack[1].segment.flags == Flags.SYN | Flags.ACK:
        i, sa = synack[0], synack[1].segment
        return any(
            j > i
            and Flags.ACK in s.segment.flags
            and not s.segment.flags & (Flags.SYN | Flags.RST)
            and s.segment.seq == sa.ack
            and s.segment.ack == seq_add(sa.seq, 1)
            for j, s in _ours(conn)
        )
    ours = _first(_ours(conn), Flags.SYN)
    return (
        ours is not None
        and ours[1].segment.flags == Flags.SYN | Flags.ACK
        and _kernel_acks(conn, ours[0], seq_add(ours[1].segment.seq, 1))
    )


def close_wait_on_wire(conn: ObservedConn) -> bool:
    """Our FIN came first and the kernel acknowledged it: it waits for its application."""
    sf, kf = _student_fin(conn), _kernel_fin(conn)
    if sf is None or (kf is not None and kf[0] < sf[0]):
        return False
    return _kernel_acks(conn, sf[0], sf[1].segment.end_seq)


def last_ack_on_wire(conn: ObservedConn) -> bool:
    """The kernel's first FIN acknowledges our FIN: it closed from CLOSE_WAIT."""
    sf, kf = _student_fin(conn), _kernel_fin(conn)
    return (
        sf is not None
        and kf is not None
        and sf[0] < kf[0]
        and kf[1].segment.ack == sf[1].segment.end_seq
    )


def closed_after_last_ack_on_wire(conn: ObservedConn) -> bool:
    """In LAST_ACK, our ACK (no RST) acknowledged the kernel's FIN with exactly the right seq."""
    if not last_ack_on_wire(conn):
        return False
    i, kf = _kernel_fin(conn)  # type: ignore[misc]
    return any(
        j > i
        and s.segment.flags == Flags.ACK
        and s.segment.ack == kf.segment.end_seq
        and s.segment.seq == kf.segment.ack
        for j, s in _ours(conn)
    )


def fin_wait_1_on_wire(conn: ObservedConn) -> bool:
    return _kernel_closed_first(conn) is not None


def fin_wait_2_on_wire(conn: ObservedConn) -> bool:
    """After the kernel's FIN and before any FIN of ours, our bare ACK acknowledged that FIN."""
    kf = _kernel_closed_first(conn)
    if kf is None:
        return False
    sf = _student_fin(conn)
    end = sf[0] if sf is not None else len(conn.segments)
    return any(
        kf[0] < j < end
        and s.segment.flags == Flags.ACK
        and s.segment.ack == kf[1].segment.end_seq
        and s.segment.seq == kf[1].segment.ack
        for j, s in _ours(conn)
    )


def closing_on_wire(conn: ObservedConn) -> bool:
    """Our FIN (right seq, ack = the kernel's FIN's seq: not acknowledging it) reached the kernel in
    FIN_WAIT_1, and the kernel acknowledged it."""
    kf = _kernel_closed_first(conn)
    sf = _student_fin(conn)
    if kf is None or sf is None or fin_wait_2_on_wire(conn):
        return False
    fin = sf[1].segment
    return (
        Flags.ACK in fin.flags
        and fin.ack == kf[1].segment.seq
        and fin.seq == kf[1].segment.ack
        and _kernel_acks(conn, sf[0], fin.end_seq)
    )


def refused_on_wire(conn: ObservedConn) -> bool:
    """In SYN_SENT, our RST+ACK acknowledged the kernel's SYN: connect() fails, the socket goes."""
    syn = _first(_theirs(conn), Flags.SYN)
    if syn is None or syn[1].segment.flags != Flags.SYN:
        return False
    want = seq_add(syn[1].segment.seq, 1)
    for j, s in _ours(conn):
        if j > syn[0] and Flags.SYN in s.segment.flags:
            return False  # we answered the connect() some other way first
        if j > syn[0] and s.segment.flags == Flags.RST | Flags.ACK and s.segment.ack == want:
            return True
    return False


# -- evidence over the whole observation ---------------------------------------------------------
def _evidence(obs: Observation, state: State, on_wire) -> tuple[bool, str]:
    sampled = [c for c in obs.conns if state in c.states()]
    if sampled:
        c = sampled[0]
        return True, f"seen in the socket table; your port {c.sport}, the kernel's {c.kport}"
    wired = [c for c in obs.conns if on_wire(c)]
    if wired:
        c = wired[0]
        return True, f"proved by the capture only; your port {c.sport}{PAUSE_TIP}"
    return False, f"never seen in {state}"


def _sampled_after(conn: ObservedConn, before: State, after: State) -> bool:
    states = conn.states()
    return any(a is before and b is after for a, b in zip(states, states[1:], strict=False))


def _no_reset(conn: ObservedConn) -> bool:
    return not any(Flags.RST in s.flags for s in conn.crafted())


@checks.add(
    "LISTEN: the application's listener answers your SYN",
    1,
    hint="send a SYN to lab.dport: the application's listening socket (LISTEN) answers it",
    why="listen() puts a socket in LISTEN; it never takes part in a connection itself, it makes "
    "new ones for each SYN",
)
def listen(obs: Observation) -> tuple[bool, str]:
    listening = any(s.state is State.LISTEN for s in obs.listener_samples)
    answered = [c for c in obs.conns if c.kport == PORT and c.kernel(Flags.SYN | Flags.ACK)]
    if not listening:
        return False, "no listener in the socket table"
    return bool(answered), "seen in the socket table" if answered else "your SYN got no SYN+ACK"


@checks.add(
    "SYN_RECEIVED: your SYN makes a half-open connection",
    1,
    hint="send IP(dst=lab.dst)/TCP(sport=port, dport=lab.dport, flags='S', seq=...) and pause",
    why="LISTEN -> SYN_RECEIVED on a SYN: the kernel answers SYN+ACK and keeps a request sock",
)
def syn_received(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.SYN_RECEIVED, syn_received_on_wire)


@checks.add(
    "ESTABLISHED: your ACK completes the handshake",
    1,
    hint="ACK the SYN+ACK with seq = your ISN + 1 and ack = its seq + 1, then pause",
    why="SYN_RECEIVED -> ESTABLISHED when the ACK acknowledges the kernel's SYN",
)
def established(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.ESTABLISHED, established_on_wire)


@checks.add(
    "CLOSE_WAIT: the kernel ACKs your FIN, its application has not closed yet",
    1,
    hint="on an established connection send flags='FA', seq = your next seq, ack = the kernel's "
    "next seq; wait for its ACK, then pause",
    why="ESTABLISHED -> CLOSE_WAIT on the peer's FIN: the kernel can still send until its "
    "application closes",
)
def close_wait(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.CLOSE_WAIT, close_wait_on_wire)


@checks.add(
    "LAST_ACK: the application closes after your FIN",
    1,
    hint="in CLOSE_WAIT call lab.app_close(port): the kernel sends its FIN; wait for it and pause",
    why="CLOSE_WAIT -> LAST_ACK on close(): the kernel's FIN waits for its ACK",
)
def last_ack(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.LAST_ACK, last_ack_on_wire)


@checks.add(
    "CLOSED: your ACK of its FIN ends the connection (LAST_ACK -> CLOSED)",
    1,
    hint="in LAST_ACK send flags='A' with ack = the kernel's FIN's seq + 1 (the FIN occupies one "
    "sequence number) and seq = your FIN's seq + 1; no RST",
    why="LAST_ACK -> CLOSED on the ACK of the FIN: the side that closed second keeps no TIME_WAIT",
)
def closed(obs: Observation) -> tuple[bool, str]:
    for c in obs.conns:
        if _no_reset(c) and _sampled_after(c, State.LAST_ACK, State.CLOSED):
            return True, f"the socket went away; your port {c.sport}"
    for c in obs.conns:
        if _no_reset(c) and closed_after_last_ack_on_wire(c):
            return True, f"proved by the capture only; your port {c.sport}{PAUSE_TIP}"
    for c in obs.conns:
        if State.LAST_ACK in c.states() or last_ack_on_wire(c):
            if not _no_reset(c):
                return False, f"you reset it (your port {c.sport}): a RST aborts, it does not close"
            return False, f"still in LAST_ACK; your port {c.sport}"
    return False, "no connection reached LAST_ACK"


@checks.add(
    "FIN_WAIT_1: the kernel closes first",
    1,
    hint="on a second established connection (lab.new_port()) call lab.app_close(port) before "
    "you send any FIN; wait for its FIN and pause",
    why="ESTABLISHED -> FIN_WAIT_1 on close(): the kernel's FIN is not yet acknowledged",
)
def fin_wait_1(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.FIN_WAIT_1, fin_wait_1_on_wire)


@checks.add(
    "FIN_WAIT_2: you ACK its FIN and send no FIN of your own",
    1,
    hint="in FIN_WAIT_1 send flags='A' with ack = the kernel's FIN's seq + 1 (the FIN occupies "
    "one sequence number), then pause before your own FIN",
    why="FIN_WAIT_1 -> FIN_WAIT_2 when its FIN is acknowledged; Linux shows an orphaned "
    "FIN_WAIT_2 with a timewait timer (tcp_fin_timeout, 60 s)",
)
def fin_wait_2(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.FIN_WAIT_2, fin_wait_2_on_wire)


@checks.add(
    "TIME_WAIT: the side that closed first waits",
    1,
    hint="in FIN_WAIT_2 send your FIN (flags='FA', ack = the kernel's FIN's seq + 1), wait for "
    "its ACK and pause",
    why="FIN_WAIT_2 (or CLOSING) -> TIME_WAIT: 60 s on Linux (TCP_TIMEWAIT_LEN), not 2 MSL",
)
def time_wait(obs: Observation) -> tuple[bool, str]:
    for c in obs.conns:
        last = c.last(State.TIME_WAIT)
        if last is not None:
            left = f", {last.expires_ms / 1000:.1f} s left" if last.timer == "timewait" else ""
            return True, f"seen in the socket table; your port {c.sport}{left}"
    return False, "no socket in TIME_WAIT"


@checks.add(
    "CLOSING: your FIN crosses the kernel's",
    2,
    hint="on a third connection, after lab.app_close(port) and its FIN, send your FIN with "
    "ack = its FIN's seq (not + 1): your FIN must not acknowledge the kernel's FIN",
    why="FIN_WAIT_1 -> CLOSING when the peer's FIN arrives before the ACK of our own "
    "(simultaneous close); the ACK of our FIN then gives TIME_WAIT",
)
def closing(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.CLOSING, closing_on_wire)


@checks.add(
    "SYN_SENT: the kernel's application connects to you",
    1,
    hint="call lab.app_connect(port) with port = lab.new_port(); wait for its SYN "
    "(lab.expect(flags='S', port=port)) and pause",
    why="CLOSED -> SYN_SENT on connect(): the kernel sends its SYN and waits for a SYN+ACK",
)
def syn_sent(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.SYN_SENT, syn_sent_on_wire)


@checks.add(
    "SYN_SENT -> CLOSED: your RST+ACK refuses the connection",
    1,
    hint="answer the kernel's SYN as a closed port does: flags='RA', seq=0, ack = its SYN's seq "
    "+ 1, from your port to the kernel's port (the SYN's sport); a RST without ACK is ignored "
    "in SYN_SENT",
    why="SYN_SENT -> CLOSED on a RST whose ACK acknowledges the SYN (connect() fails with "
    "ECONNREFUSED)",
)
def refused(obs: Observation) -> tuple[bool, str]:
    for c in obs.conns:
        if syn_sent_on_wire(c) and _sampled_after(c, State.SYN_SENT, State.CLOSED):
            return True, f"the socket went away; your port {c.sport}"
    for c in obs.conns:
        if refused_on_wire(c):
            return True, f"proved by the capture only; your port {c.sport}{PAUSE_TIP}"
    stuck = [c.sport for c in obs.conns if c.states()[-1:] == [State.SYN_SENT]]
    return False, f"still in SYN_SENT; your port {stuck[0]}" if stuck else "never seen"
