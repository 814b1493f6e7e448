"""The state changes of RFC 9293 §3.3.2 by event, derived from tcplab.model.table (no second table).

Theory of operation: the engine asks four questions of the form "after this event in this state, which
state?" (tcplab.engine.handshake). Each `Event` names one input of the table; `step` looks the pair up
there, takes the case that holds when no Linux guard does (the RFC's ordinary path) and reports it as a
`Transition` when it changes the state. A SYN_RECEIVED state is looked up as the listener's request
sock first, then as the full socket of a simultaneous open. This module is a compatibility layer for
the callers of the old table; new code uses tcplab.model.endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tcplab.model.flags import Flags
from tcplab.model.state import State
from tcplab.model.table import Input, Place, case_for, lookup


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


INPUT_OF: dict[Event, Input] = {
    Event.APP_LISTEN: Input.APP_LISTEN,
    Event.APP_CONNECT: Input.APP_CONNECT,
    Event.APP_CLOSE: Input.APP_CLOSE,
    Event.RECV_SYN: Input.SYN_NEW,
    Event.RECV_SYN_ACK: Input.SYN_ACK_GOOD,
    Event.RECV_ACK: Input.ACK_PURE,
    Event.RECV_ACK_OF_FIN: Input.ACK_OF_FIN,
    Event.RECV_FIN: Input.ACK_FIN,
    Event.RECV_FIN_ACK_OF_FIN: Input.ACK_FIN_OF_FIN,
    Event.RECV_RST: Input.RST_EXACT,
    Event.TIMEOUT_SYN: Input.TIMER_GIVE_UP,
    Event.TIMEOUT_2MSL: Input.TIMER_EXPIRE,
}


@dataclass(frozen=True)
class Transition:
    state: State
    event: Event
    next: State
    sends: Flags  # flags of the segment sent on this transition, NONE for none
    source: str
    rule: str = ""


def _places(state: State) -> list[Place]:
    if state is State.CLOSED:
        return [Place.NO_SOCKET]
    if state is State.SYN_RECEIVED:
        return [Place.REQUEST, Place.SYN_RECEIVED]
    return [Place[state.name]]


def _derive(state: State, event: Event) -> Transition | None:
    for place in _places(state):
        row = lookup(place, INPUT_OF[event])
        case = case_for(row, frozenset())
        if case.next is not None and case.next is not place:
            sends = case.reply.flags if case.reply else Flags(0)
            return Transition(state, event, case.next.state, sends, row.rfc, case.rule)
    return None


TABLE: dict[tuple[State, Event], Transition] = {
    (s, e): t for s in State for e in Event if (t := _derive(s, e)) is not None
}


def step(state: State, event: Event) -> Transition | None:
    """The transition for this event in this state, or None where the state does not change."""
    return TABLE.get((state, event))


def next_state(state: State, event: Event) -> State:
    """The state after the event (unchanged where the table has no row)."""
    row = TABLE.get((state, event))
    return row.next if row else state
