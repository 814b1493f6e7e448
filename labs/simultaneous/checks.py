"""Checks for lab 6 (simultaneous close and simultaneous open), on what the kernel host saw."""

from tcplab.defaults import APP_PORT
from tcplab.exercise.kit import Checklist, Observation, ObservedConn
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()


def _signed(n: int | None) -> int | None:
    """A relative sequence number as a small signed offset (ISN - 1, not ISN + 4294967295)."""
    return None if n is None else n - 2**32 if n >= 2**31 else n


def _close_conn(obs: Observation) -> ObservedConn | None:
    """Part 1: the first connection you opened to the application's port."""
    return next(
        (
            c
            for c in obs.conns
            if c.kport == APP_PORT and c.segments and not c.segments[0].from_kernel
        ),
        None,
    )


def _open_conn(obs: Observation) -> ObservedConn | None:
    """Part 2: the first connection the kernel's application opened to you (its SYN came first)."""
    return next(
        (c for c in obs.conns if c.segments and c.segments[0].from_kernel and c.kernel(Flags.SYN)),
        None,
    )


def _first_fin(conn: ObservedConn, from_kernel: bool):
    for s in conn.segments:
        if s.from_kernel == from_kernel and Flags.FIN in s.segment.flags:
            return s
    return None


@checks.add(
    "the application closes first: the kernel's FIN comes before yours",
    1,
    hint="complete the handshake, call lab.app_close(), and wait for the kernel's FIN "
    "(lab.expect(flags='FA')) before you send your own",
    why="in a simultaneous close both sides are in FIN_WAIT_1: the kernel must have sent its FIN "
    "before yours reached it",
)
def kernel_fin_first(obs: Observation) -> tuple[bool, str]:
    conn = _close_conn(obs)
    if conn is None:
        return False, "no connection to the application's port"
    theirs, yours = _first_fin(conn, True), _first_fin(conn, False)
    if theirs is None:
        return False, "the kernel never sent a FIN"
    if yours is None:
        return False, "you never sent a FIN"
    return theirs.time <= yours.time, ""


@checks.add(
    "your FIN crosses the kernel's: seq = your ISN + 1, ack = its ISN + 1 (not its FIN)",
    2,
    hint="send flags 'FA' with seq = your ISN + 1 and ack = the kernel's ISN + 1: acknowledging "
    "its FIN too (ack = ISN + 2) is an ordinary close, and the kernel skips CLOSING",
    why="two FINs that cross acknowledge only the other side's data; each FIN is still unacknowledged "
    "when the other side's arrives (RFC 9293 §3.6, case 3)",
)
def crossing_fin(obs: Observation) -> tuple[bool, str]:
    conn = _close_conn(obs)
    fin = _first_fin(conn, False) if conn else None
    if fin is None:
        return False, "you never sent a FIN"
    seq = _signed(conn.rel_seq(fin.segment, from_kernel=False))
    ack = (
        _signed(conn.rel_ack(fin.segment, from_kernel=False))
        if Flags.ACK in fin.segment.flags
        else None
    )
    return seq == 1 and ack == 1, f"your FIN had seq ISN + {seq}, ack the kernel's ISN + {ack}"


def _closing_from_capture(conn: ObservedConn) -> bool:
    """CLOSING in the capture: tcplab's model put the kernel there (your FIN crossing its own)
    and the kernel did what the model predicted (a state shorter than one sample of the socket
    table still shows this way)."""
    return State.CLOSING in conn.model_states()


@checks.add(
    "the kernel goes FIN_WAIT_1 -> CLOSING -> TIME_WAIT",
    3,
    hint="CLOSING needs both FINs sent and neither acknowledged; then ACK the kernel's FIN and it "
    "moves to TIME_WAIT (pause with time.sleep(0.05) after each step so its state can be read)",
    why="FIN_WAIT_1 + the peer's FIN alone -> CLOSING; CLOSING + the ACK of its FIN -> TIME_WAIT "
    "(RFC 9293 §3.3.2)",
)
def close_states(obs: Observation) -> tuple[bool, str]:
    conn = _close_conn(obs)
    if conn is None:
        return False, "no connection to the application's port"
    seen = conn.states()
    path = " -> ".join(seen) or "no socket"
    wrong = {State.FIN_WAIT_2, State.CLOSE_WAIT, State.LAST_ACK} & set(seen)
    if wrong:
        return False, path
    fin_wait_1 = State.FIN_WAIT_1 in seen or _first_fin(conn, True) is not None
    closing = State.CLOSING in seen or _closing_from_capture(conn)
    time_wait = State.TIME_WAIT in seen
    if State.CLOSING in seen and time_wait:
        time_wait = seen.index(State.CLOSING) < seen.index(State.TIME_WAIT)
    return fin_wait_1 and closing and time_wait, path


@checks.add(
    "your last ACK acknowledges the kernel's FIN: seq = your ISN + 2, ack = its ISN + 2",
    2,
    hint="after your FIN (seq ISN + 1) send flags 'A' with seq = your ISN + 2 and ack = the "
    "kernel's ISN + 2: its FIN used one sequence number, and so did yours",
    why="the kernel leaves CLOSING only when its FIN is acknowledged; a FIN occupies one sequence "
    "number on each side",
)
def last_ack(obs: Observation) -> tuple[bool, str]:
    conn = _close_conn(obs)
    fin = _first_fin(conn, False) if conn else None
    if fin is None:
        return False, "you never sent a FIN"
    acks = [
        s.segment
        for s in conn.segments
        if not s.from_kernel and s.time > fin.time and s.segment.flags == Flags.ACK
    ]
    if not acks:
        return False, "no ACK from you after your FIN"
    got = [(_signed(conn.rel_seq(a, False)), _signed(conn.rel_ack(a, False))) for a in acks]
    ok = (2, 2) in got
    seq, ack = got[0]
    return ok, "" if ok else f"your ACK had seq your ISN + {seq}, ack the kernel's ISN + {ack}"


@checks.add(
    "you answer the kernel's SYN with a SYN of your own (no ACK)",
    2,
    hint="after lab.app_connect(port), read the kernel's SYN with lab.expect(flags='S', port=port) "
    "and send flags 'S' (not 'SA') from that port to the kernel's port",
    why="a SYN that reaches a socket in SYN_SENT is a simultaneous open: both sides connected "
    "(RFC 9293 §3.5, figure 7)",
)
def own_syn(obs: Observation) -> tuple[bool, str]:
    conn = _open_conn(obs)
    if conn is None:
        return False, "the kernel's application never connected to you (lab.app_connect)"
    yours = conn.crafted()
    if not yours:
        return False, "you sent nothing on the kernel's connection"
    return yours[0].flags == Flags.SYN, f"your first segment had flags {yours[0].flags.letters}"


@checks.add(
    "your SYN+ACK repeats your ISN and acknowledges the kernel's ISN + 1",
    2,
    hint="send flags 'SA' with seq = the ISN of your SYN (the SYN is sent again) and ack = the "
    "kernel's ISN + 1",
    why="in a simultaneous open each side re-sends its SYN with an ACK of the other's; the kernel "
    "accepts it only if its seq is your ISN and its ack covers its own SYN",
)
def own_synack(obs: Observation) -> tuple[bool, str]:
    conn = _open_conn(obs)
    if conn is None:
        return False, "the kernel's application never connected to you (lab.app_connect)"
    synacks = conn.crafted(Flags.SYN | Flags.ACK)
    if not synacks:
        return False, "you sent no SYN+ACK"
    seq = _signed(conn.rel_seq(synacks[0], False))
    ack = _signed(conn.rel_ack(synacks[0], False))
    return seq == 0 and ack == 1, f"your SYN+ACK had seq ISN + {seq}, ack the kernel's ISN + {ack}"


@checks.add(
    "the kernel goes SYN_SENT -> SYN_RECEIVED -> ESTABLISHED",
    3,
    hint="the kernel reaches SYN_RECEIVED only through your bare SYN, and ESTABLISHED only when "
    "your SYN+ACK acknowledges its SYN (pause with time.sleep(0.05) after each step)",
    why="SYN_SENT + SYN -> SYN_RECEIVED (it sends SYN+ACK); SYN_RECEIVED + the ACK of its SYN -> "
    "ESTABLISHED (RFC 9293 §3.3.2)",
)
def open_states(obs: Observation) -> tuple[bool, str]:
    conn = _open_conn(obs)
    if conn is None:
        return False, "the kernel's application never connected to you (lab.app_connect)"
    seen = conn.states()
    path = " -> ".join(seen) or "no socket"
    if State.ESTABLISHED not in seen:
        return False, path
    if State.SYN_RECEIVED in seen:
        return seen.index(State.SYN_RECEIVED) < seen.index(State.ESTABLISHED), path
    return _syn_received_from_capture(conn), path


def _syn_received_from_capture(conn: ObservedConn) -> bool:
    """SYN_RECEIVED in the capture: tcplab's model put the kernel there (your bare SYN crossing
    its own) and the kernel answered as predicted (a state shorter than one sample of the socket
    table still shows this way)."""
    return State.SYN_RECEIVED in conn.model_states()


@checks.add(
    "you never reset a connection",
    1,
    hint="do not send R: both parts end without a RST",
    why="a simultaneous close and a simultaneous open need only S, A and F",
)
def no_reset(obs: Observation) -> bool:
    return bool(obs.conns) and not any(Flags.RST in s.flags for s in obs.crafted())
