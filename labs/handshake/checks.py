"""Checks for lab 1 (the handshake), on what the kernel host saw."""

from tcplab.defaults import APP_PORT
from tcplab.exercise.kit import Checklist, Observation
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()


def _ack_after_synack(obs: Observation):
    conn = obs.conn(0)
    if conn is None or not conn.kernel(Flags.SYN | Flags.ACK):
        return None, None
    acks = [s for s in conn.crafted() if Flags.ACK in s.flags and Flags.SYN not in s.flags]
    return conn, (acks[0] if acks else None)


@checks.add(
    "your SYN reaches the application's port",
    1,
    hint="send IP(dst=lab.dst)/TCP(sport=lab.sport, dport=lab.dport, flags='S', seq=...)",
    why="a connection begins with a SYN to a port where an application listens",
)
def syn_sent(obs: Observation) -> bool:
    conn = obs.conn(0)
    return conn is not None and conn.kport == APP_PORT and bool(conn.crafted(Flags.SYN))


@checks.add(
    "your ACK acknowledges the kernel's ISN + 1",
    3,
    hint="ack = the SYN+ACK's seq + 1: the kernel's SYN occupies one sequence number",
    why="acknowledging y + 1 tells the kernel its SYN arrived; nothing else completes it",
)
def ack_number(obs: Observation) -> tuple[bool, str]:
    conn, ack = _ack_after_synack(obs)
    if ack is None:
        return False, "no ACK after the SYN+ACK"
    rel = conn.rel_ack(ack, from_kernel=False)
    return rel == 1, f"your ack was the kernel's ISN + {rel}"


@checks.add(
    "your ACK's seq is your ISN + 1",
    2,
    hint="your SYN used one sequence number, so the next segment starts at ISN + 1",
    why="sequence numbers count bytes and the SYN; the ACK comes right after the SYN",
)
def seq_number(obs: Observation) -> tuple[bool, str]:
    conn, ack = _ack_after_synack(obs)
    if ack is None:
        return False, "no ACK after the SYN+ACK"
    rel = conn.rel_seq(ack, from_kernel=False)
    return rel == 1, f"your seq was your ISN + {rel}"


@checks.add(
    "the kernel's socket goes SYN_RECEIVED -> ESTABLISHED",
    3,
    hint="the kernel reaches ESTABLISHED only when your ACK acknowledges its SYN",
    why="LISTEN -> SYN_RECEIVED on your SYN, -> ESTABLISHED on your ACK (RFC 9293 §3.5)",
)
def states(obs: Observation) -> tuple[bool, str]:
    conn = obs.conn(0)
    seen = conn.states() if conn else []
    # a request sock may live for less than one sample of the socket table: its SYN+ACK shows it
    half_open = State.SYN_RECEIVED in seen or bool(conn and conn.kernel(Flags.SYN | Flags.ACK))
    return half_open and State.ESTABLISHED in seen, " -> ".join(seen) or "no socket"


@checks.add(
    "you never reset the connection",
    1,
    hint="do not send R: a RST ends the connection at once",
    why="a handshake needs only S and A from you",
)
def no_reset(obs: Observation) -> bool:
    return bool(obs.conns) and not any(Flags.RST in s.flags for s in obs.crafted())
