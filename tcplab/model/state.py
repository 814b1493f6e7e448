"""TCP connection states with their RFC 9293 names (§3.3.2), Linux's `ss` spellings and numbers.

Linux numbers its states in include/net/tcp_states.h; sock_diag reports those numbers. A server's
half-open connection is a request sock, TCP_NEW_SYN_RECV (12), which `ss` shows as SYN-RECV: to the
student it is SYN_RECEIVED.

Inside tcplab a state is a `State`, compared by identity; its value, str() and format() are the RFC
name. Text is read at the edges: `State.parse` takes either spelling (a scenario's expect_state),
`State.from_ss` only `ss`'s; `state.ss` is the spelling shown beside the RFC name.
"""

from __future__ import annotations

from enum import Enum

from tcplab.model.text import N_, Invalid


class State(str, Enum):
    """A connection's state by its RFC 9293 name, which is also its value and its text."""

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

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def ss(self) -> str:
        """How tcplab shows this state in `ss`'s spelling (SYN-RECV, ESTAB, TIME-WAIT)."""
        return _SS_NAMES[self]

    @property
    def synchronized(self) -> bool:
        """RFC 9293 §3.5.2: every state after the handshake has completed."""
        return self not in (State.CLOSED, State.LISTEN, State.SYN_SENT, State.SYN_RECEIVED)

    @classmethod
    def from_ss(cls, text: str) -> State:
        """The state `ss` names so, in any case: its column (ESTAB, SYN-RECV, UNCONN) or its
        state filter (established, listening, closed); ValueError for anything else."""
        state = _FROM_SS.get(text.strip().upper())
        if state is None:
            names = ", ".join(_SS_NAMES.values())
            raise Invalid(
                N_("unknown ss state {state}; expected one of {names}"),
                state=repr(text),
                names=names,
            )
        return state

    @classmethod
    def parse(cls, text: str) -> State:
        """Accept the RFC name or the `ss` spelling, in any case (SYN-RECV, syn_received, ESTAB)."""
        key = text.strip().upper().replace("-", "_")
        if key in cls.__members__:
            return cls[key]
        state = _FROM_SS.get(key.replace("_", "-"))
        if state is not None:
            return state
        names = ", ".join(s.value for s in cls)
        raise Invalid(
            N_("unknown TCP state {state}; expected one of {names}"), state=repr(text), names=names
        )


# tcplab's spelling of each state as `ss` shows it (iproute2 misc/ss.c, sstate_name). ss itself
# shows a socket in CLOSE (a bound, unconnected one) as UNCONN; tcplab has always shown CLOSE.
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
# every spelling `ss` uses, upper case: its columns, and the names of its state filter
_FROM_SS: dict[str, State] = {
    **{ss: state for state, ss in _SS_NAMES.items()},
    "UNCONN": State.CLOSED,
    "CLOSED": State.CLOSED,
    "UNCONNECTED": State.CLOSED,
    "ESTABLISHED": State.ESTABLISHED,
    "LISTENING": State.LISTEN,
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
