"""TCP connection states with their RFC 9293 names (§3.3.2), Linux's `ss` spellings and numbers.

Linux numbers its states in include/net/tcp_states.h; sock_diag reports those numbers. A server's
half-open connection is a request sock, TCP_NEW_SYN_RECV (12), which `ss` shows as SYN-RECV: to the
student it is SYN_RECEIVED.
"""

from __future__ import annotations

from enum import Enum


class State(str, Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"

    @property
    def ss_name(self) -> str:
        """How `ss` spells this state."""
        return _SS_NAMES[self]

    @property
    def synchronized(self) -> bool:
        """RFC 9293 §3.5.2: every state after the handshake has completed."""
        return self not in (State.CLOSED, State.LISTEN, State.SYN_SENT, State.SYN_RECEIVED)

    @classmethod
    def parse(cls, text: str) -> State:
        """Accept the RFC name or the `ss` spelling, in any case (SYN-RECV, syn_received, ESTAB)."""
        key = text.strip().upper().replace("-", "_")
        if key in cls.__members__:
            return cls[key]
        for state, ss in _SS_NAMES.items():
            if ss.replace("-", "_") == key:
                return state
        names = ", ".join(s.value for s in cls)
        raise ValueError(f"unknown TCP state {text!r}; expected one of {names}")


_SS_NAMES = {
    State.CLOSED: "CLOSE",
    State.LISTEN: "LISTEN",
    State.SYN_SENT: "SYN-SENT",
    State.SYN_RECEIVED: "SYN-RECV",
    State.ESTABLISHED: "ESTAB",
    State.FIN_WAIT_1: "FIN-WAIT-1",
    State.FIN_WAIT_2: "FIN-WAIT-2",
    State.CLOSE_WAIT: "CLOSE-WAIT",
    State.CLOSING: "CLOSING",
    State.LAST_ACK: "LAST-ACK",
    State.TIME_WAIT: "TIME-WAIT",
}

# include/net/tcp_states.h
LINUX_STATE_NUMBERS: dict[int, State] = {
    1: State.ESTABLISHED,
    2: State.SYN_SENT,
    3: State.SYN_RECEIVED,
    4: State.FIN_WAIT_1,
    5: State.FIN_WAIT_2,
    6: State.TIME_WAIT,
    7: State.CLOSED,
    8: State.CLOSE_WAIT,
    9: State.LAST_ACK,
    10: State.LISTEN,
    11: State.CLOSING,
    12: State.SYN_RECEIVED,  # TCP_NEW_SYN_RECV: a request sock
}

# sock_diag idiag_timer (net/ipv4/inet_diag.c, tcp_diag.c)
LINUX_TIMER_NAMES: dict[int, str] = {
    0: "off",
    1: "on",  # retransmit / ... : the retransmission timer
    2: "keepalive",
    3: "timewait",
    4: "persist",
}
