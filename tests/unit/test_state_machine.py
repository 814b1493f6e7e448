"""The RFC 9293 §3.3.2 state diagram, read from the one table (tcplab.model.table): its arrows on the
ordinary path (no Linux guard), what is sent on them, and that every state is reached."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcplab.model.endpoint import place_of
from tcplab.model.flags import Flags
from tcplab.model.state import LINUX_STATE_NUMBERS, State
from tcplab.model.table import Guard, Input, case_for, edges, lookup

EDGES = edges()

HANDSHAKE_CLIENT = [
    (State.CLOSED, Input.APP_CONNECT, State.SYN_SENT),
    (State.SYN_SENT, Input.SYN_ACK_GOOD, State.ESTABLISHED),
]
HANDSHAKE_SERVER = [
    (State.CLOSED, Input.APP_LISTEN, State.LISTEN),
    (State.LISTEN, Input.SYN_NEW, State.SYN_RECEIVED),
    (State.SYN_RECEIVED, Input.ACK_PURE, State.ESTABLISHED),
]
ACTIVE_CLOSE = [
    (State.ESTABLISHED, Input.APP_CLOSE, State.FIN_WAIT_1),
    (State.FIN_WAIT_1, Input.ACK_OF_FIN, State.FIN_WAIT_2),
    (State.FIN_WAIT_2, Input.ACK_FIN, State.TIME_WAIT),
    (State.TIME_WAIT, Input.TIMER_EXPIRE, State.CLOSED),
]
PASSIVE_CLOSE = [
    (State.ESTABLISHED, Input.ACK_FIN, State.CLOSE_WAIT),
    (State.CLOSE_WAIT, Input.APP_CLOSE, State.LAST_ACK),
    (State.LAST_ACK, Input.ACK_OF_FIN, State.CLOSED),
]
SIMULTANEOUS = [
    (State.SYN_SENT, Input.SYN_NEW, State.SYN_RECEIVED),
    (State.FIN_WAIT_1, Input.ACK_FIN, State.CLOSING),
    (State.CLOSING, Input.ACK_OF_FIN, State.TIME_WAIT),
]


@pytest.mark.parametrize(
    ("state", "inp", "after"),
    HANDSHAKE_CLIENT + HANDSHAKE_SERVER + ACTIVE_CLOSE + PASSIVE_CLOSE + SIMULTANEOUS,
)
def test_the_rfc_arrow_is_the_tables_ordinary_path(state, inp, after):
    place = place_of(state)
    row = lookup(place, inp)
    case = case_for(row, frozenset())  # no Linux guard holds
    assert case.next is not None and case.next.state is after
    assert row.rfc.startswith("RFC 9293")
    assert any(
        (e.source, e.input, e.target, e.guard) == (state, inp, after, Guard.ALWAYS) for e in EDGES
    )


@given(st.sampled_from(EDGES))
def test_only_a_connect_or_a_syn_sends_a_syn_and_only_close_or_shutdown_a_fin(edge):
    sends = edge.sends or Flags(0)
    if Flags.SYN in sends:
        assert edge.input is Input.APP_CONNECT or edge.input.name.startswith("SYN_")
    if Flags.FIN in sends:
        assert edge.input in (Input.APP_CLOSE, Input.APP_SHUTDOWN)
    if sends and edge.target is State.CLOSED:  # leaving for CLOSED, only a reset is sent
        assert Flags.RST in sends


def test_every_state_is_reachable_from_closed():
    reached, frontier = {State.CLOSED}, [State.CLOSED]
    while frontier:
        s = frontier.pop()
        for e in EDGES:
            if e.source is s and e.target not in reached:
                reached.add(e.target)
                frontier.append(e.target)
    assert reached == set(State)


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("SYN-RECV", State.SYN_RECEIVED),
        ("estab", State.ESTABLISHED),
        ("time_wait", State.TIME_WAIT),
        ("FIN-WAIT-1", State.FIN_WAIT_1),
        ("CLOSE", State.CLOSED),
        ("syn_received", State.SYN_RECEIVED),
    ],
)
def test_states_parse_from_rfc_and_ss_names(text, state):
    assert State.parse(text) is state


def test_unknown_state_names_say_what_is_allowed():
    with pytest.raises(ValueError, match="expected one of CLOSED, LISTEN"):
        State.parse("HALF_OPEN")


def test_linux_numbers_cover_every_state():
    assert set(LINUX_STATE_NUMBERS.values()) == set(State)
    assert LINUX_STATE_NUMBERS[12] is State.SYN_RECEIVED  # TCP_NEW_SYN_RECV, a request sock
