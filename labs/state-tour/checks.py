"""Checks for lab 8 (the state tour), on what the kernel host saw.

Each state counts when tcplab's sampler saw it in the kernel's socket table. Where the student did not
pause and a state lived too briefly to be sampled, the capture proves it through tcplab's model: the
exchange is replayed through it, and a state counts when the model put the kernel's side there after a
segment or an application call and the kernel did what the model predicted (ObservedConn.model_states),
so a check never depends on the sampler's luck and no rule of TCP is written twice. TIME_WAIT lasts
60 s and is always sampled.
"""

from tcplab.defaults import APP_PORT
from tcplab.exercise.kit import Checklist, Observation, ObservedConn
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()
PORT = APP_PORT  # the application's listener (lab.toml)
PAUSE_TIP = "; pause (time.sleep(0.05)) to see it in the socket table too"


# -- what the capture proves, through the model ---------------------------------------------------
def on_wire(state: State):
    """The model put the connection in `state`, and the kernel agreed with it there."""
    return lambda conn: state in conn.model_states()


def _model_after(conn: ObservedConn, before: State, after: State) -> bool:
    states = conn.model_states()
    return any(a is before and b is after for a, b in zip(states, states[1:], strict=False))


# -- evidence over the whole observation ---------------------------------------------------------
def _evidence(obs: Observation, state: State, proved) -> tuple[bool, str]:
    sampled = [c for c in obs.conns if state in c.states()]
    if sampled:
        c = sampled[0]
        return True, f"seen in the socket table; your port {c.sport}, the kernel's {c.kport}"
    wired = [c for c in obs.conns if proved(c)]
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
    return _evidence(obs, State.SYN_RECEIVED, on_wire(State.SYN_RECEIVED))


@checks.add(
    "ESTABLISHED: your ACK completes the handshake",
    1,
    hint="ACK the SYN+ACK with seq = your ISN + 1 and ack = its seq + 1, then pause",
    why="SYN_RECEIVED -> ESTABLISHED when the ACK acknowledges the kernel's SYN",
)
def established(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.ESTABLISHED, on_wire(State.ESTABLISHED))


@checks.add(
    "CLOSE_WAIT: the kernel ACKs your FIN, its application has not closed yet",
    1,
    hint="on an established connection send flags='FA', seq = your next seq, ack = the kernel's "
    "next seq; wait for its ACK, then pause",
    why="ESTABLISHED -> CLOSE_WAIT on the peer's FIN: the kernel can still send until its "
    "application closes",
)
def close_wait(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.CLOSE_WAIT, on_wire(State.CLOSE_WAIT))


@checks.add(
    "LAST_ACK: the application closes after your FIN",
    1,
    hint="in CLOSE_WAIT call lab.app_close(port): the kernel sends its FIN; wait for it and pause",
    why="CLOSE_WAIT -> LAST_ACK on close(): the kernel's FIN waits for its ACK",
)
def last_ack(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.LAST_ACK, on_wire(State.LAST_ACK))


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
        if _no_reset(c) and _model_after(c, State.LAST_ACK, State.CLOSED):
            return True, f"proved by the capture only; your port {c.sport}{PAUSE_TIP}"
    for c in obs.conns:
        if State.LAST_ACK in c.states() or State.LAST_ACK in c.model_states():
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
    return _evidence(obs, State.FIN_WAIT_1, on_wire(State.FIN_WAIT_1))


@checks.add(
    "FIN_WAIT_2: you ACK its FIN and send no FIN of your own",
    1,
    hint="in FIN_WAIT_1 send flags='A' with ack = the kernel's FIN's seq + 1 (the FIN occupies "
    "one sequence number), then pause before your own FIN",
    why="FIN_WAIT_1 -> FIN_WAIT_2 when its FIN is acknowledged; Linux shows an orphaned "
    "FIN_WAIT_2 with a timewait timer (tcp_fin_timeout, 60 s)",
)
def fin_wait_2(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.FIN_WAIT_2, on_wire(State.FIN_WAIT_2))


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
    return _evidence(obs, State.CLOSING, on_wire(State.CLOSING))


@checks.add(
    "SYN_SENT: the kernel's application connects to you",
    1,
    hint="call lab.app_connect(port) with port = lab.new_port(); wait for its SYN "
    "(lab.expect(flags='S', port=port)) and pause",
    why="CLOSED -> SYN_SENT on connect(): the kernel sends its SYN and waits for a SYN+ACK",
)
def syn_sent(obs: Observation) -> tuple[bool, str]:
    return _evidence(obs, State.SYN_SENT, on_wire(State.SYN_SENT))


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
        if c.kernel(Flags.SYN) and _sampled_after(c, State.SYN_SENT, State.CLOSED):
            return True, f"the socket went away; your port {c.sport}"
    for c in obs.conns:
        if _model_after(c, State.SYN_SENT, State.CLOSED):
            return True, f"proved by the capture only; your port {c.sport}{PAUSE_TIP}"
    stuck = [c.sport for c in obs.conns if c.states()[-1:] == [State.SYN_SENT]]
    return False, f"still in SYN_SENT; your port {stuck[0]}" if stuck else "never seen"
