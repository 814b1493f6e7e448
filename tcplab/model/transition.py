"""The TCP state machine as one table: (state, event) -> (next state, what is sent).

Theory of operation: every transition of RFC 9293 §3.3.2 (Figure 5) and §3.10 is one row, read top to
bottom, with the section beside it. Events read as what happened (RECV_SYN, APP_CLOSE, TIMEOUT_2MSL).
Anything not in the table does not change the state; what the kernel *answers* to a segment that does not
move the state (a RST, a challenge ACK, silence) is decided in tcplab.model.rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tcplab.model.flags import Flags
from tcplab.model.state import State


class Event(str, Enum):
    APP_LISTEN = "APP_LISTEN"
    APP_CONNECT = "APP_CONNECT"
    APP_CLOSE = "APP_CLOSE"
    RECV_SYN = "RECV_SYN"
    RECV_SYN_ACK = "RECV_SYN_ACK"
    RECV_ACK = "RECV_ACK"
    RECV_ACK_OF_FIN = "RECV_ACK_OF_FIN"
    RECV_FIN = "RECV_FIN"
    RECV_FIN_ACK_OF_FIN = "RECV_FIN_ACK_OF_FIN"
    RECV_RST = "RECV_RST"
    TIMEOUT_SYN = "TIMEOUT_SYN"
    TIMEOUT_2MSL = "TIMEOUT_2MSL"


@dataclass(frozen=True)
class Transition:
    state: State
    event: Event
    next: State
    sends: Flags  # flags of the segment sent on this transition, NONE for none
    source: str


S = State
E = Event
NONE = Flags(0)
SYN, SYN_ACK, ACK, FIN_ACK = Flags.SYN, Flags.SYN | Flags.ACK, Flags.ACK, Flags.FIN | Flags.ACK
_ROWS = [
    Transition(S.CLOSED, E.APP_LISTEN, S.LISTEN, NONE, "RFC 9293 §3.10.1 (passive OPEN)"),
    Transition(S.CLOSED, E.APP_CONNECT, S.SYN_SENT, SYN, "RFC 9293 §3.10.1 (active OPEN)"),
    Transition(S.LISTEN, E.RECV_SYN, S.SYN_RECEIVED, SYN_ACK, "RFC 9293 §3.10.7.2"),
    Transition(S.LISTEN, E.APP_CLOSE, S.CLOSED, NONE, "RFC 9293 §3.10.4"),
    Transition(S.SYN_SENT, E.RECV_SYN_ACK, S.ESTABLISHED, ACK, "RFC 9293 §3.10.7.3"),
    Transition(
        S.SYN_SENT, E.RECV_SYN, S.SYN_RECEIVED, SYN_ACK, "RFC 9293 §3.10.7.3 (simultaneous open)"
    ),
    Transition(
        S.SYN_SENT, E.RECV_RST, S.CLOSED, NONE, "RFC 9293 §3.10.7.3 (RST with acceptable ACK)"
    ),
    Transition(S.SYN_SENT, E.APP_CLOSE, S.CLOSED, NONE, "RFC 9293 §3.10.4"),
    Transition(
        S.SYN_SENT, E.TIMEOUT_SYN, S.CLOSED, NONE, "RFC 9293 §3.8.1 (SYN retries exhausted)"
    ),
    Transition(S.SYN_RECEIVED, E.RECV_ACK, S.ESTABLISHED, NONE, "RFC 9293 §3.10.7.4 (fifth check)"),
    Transition(S.SYN_RECEIVED, E.RECV_RST, S.LISTEN, NONE, "RFC 9293 §3.10.7.4 (passive open)"),
    Transition(S.SYN_RECEIVED, E.APP_CLOSE, S.FIN_WAIT_1, FIN_ACK, "RFC 9293 §3.10.4"),
    Transition(S.ESTABLISHED, E.APP_CLOSE, S.FIN_WAIT_1, FIN_ACK, "RFC 9293 §3.10.4"),
    Transition(S.ESTABLISHED, E.RECV_FIN, S.CLOSE_WAIT, ACK, "RFC 9293 §3.10.7.4 (eighth check)"),
    Transition(S.ESTABLISHED, E.RECV_RST, S.CLOSED, NONE, "RFC 9293 §3.10.7.4; RFC 5961 §3.2"),
    Transition(S.FIN_WAIT_1, E.RECV_ACK_OF_FIN, S.FIN_WAIT_2, NONE, "RFC 9293 §3.10.7.4"),
    Transition(S.FIN_WAIT_1, E.RECV_FIN, S.CLOSING, ACK, "RFC 9293 §3.10.7.4 (simultaneous close)"),
    Transition(S.FIN_WAIT_1, E.RECV_FIN_ACK_OF_FIN, S.TIME_WAIT, ACK, "RFC 9293 §3.10.7.4"),
    Transition(S.FIN_WAIT_1, E.RECV_RST, S.CLOSED, NONE, "RFC 9293 §3.10.7.4"),
    Transition(S.FIN_WAIT_2, E.RECV_FIN, S.TIME_WAIT, ACK, "RFC 9293 §3.10.7.4"),
    Transition(S.FIN_WAIT_2, E.RECV_RST, S.CLOSED, NONE, "RFC 9293 §3.10.7.4"),
    Transition(S.CLOSE_WAIT, E.APP_CLOSE, S.LAST_ACK, FIN_ACK, "RFC 9293 §3.10.4"),
    Transition(S.CLOSE_WAIT, E.RECV_RST, S.CLOSED, NONE, "RFC 9293 §3.10.7.4"),
    Transition(S.CLOSING, E.RECV_ACK_OF_FIN, S.TIME_WAIT, NONE, "RFC 9293 §3.10.7.4"),
    Transition(S.CLOSING, E.RECV_RST, S.CLOSED, NONE, "RFC 9293 §3.10.7.4"),
    Transition(S.LAST_ACK, E.RECV_ACK_OF_FIN, S.CLOSED, NONE, "RFC 9293 §3.10.7.4"),
    Transition(S.LAST_ACK, E.RECV_RST, S.CLOSED, NONE, "RFC 9293 §3.10.7.4"),
    Transition(S.TIME_WAIT, E.TIMEOUT_2MSL, S.CLOSED, NONE, "RFC 9293 §3.10.8 (Linux: 60 s)"),
]

TABLE: dict[tuple[State, Event], Transition] = {(t.state, t.event): t for t in _ROWS}


def step(state: State, event: Event) -> Transition | None:
    """The transition for this event in this state, or None where the state does not change."""
    return TABLE.get((state, event))


def next_state(state: State, event: Event) -> State:
    """The state after the event (unchanged where the table has no row)."""
    row = TABLE.get((state, event))
    return row.next if row else state
