import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcplab.model.flags import Flags
from tcplab.model.state import LINUX_STATE_NUMBERS, State
from tcplab.model.transition import TABLE, Event, next_state, step

HANDSHAKE_CLIENT = [
    (State.CLOSED, Event.APP_CONNECT, State.SYN_SENT),
    (State.SYN_SENT, Event.RECV_SYN_ACK, State.ESTABLISHED),
]
HANDSHAKE_SERVER = [
    (State.CLOSED, Event.APP_LISTEN, State.LISTEN),
    (State.LISTEN, Event.RECV_SYN, State.SYN_RECEIVED),
    (State.SYN_RECEIVED, Event.RECV_ACK, State.ESTABLISHED),
]
ACTIVE_CLOSE = [
    (State.ESTABLISHED, Event.APP_CLOSE, State.FIN_WAIT_1),
    (State.FIN_WAIT_1, Event.RECV_ACK_OF_FIN, State.FIN_WAIT_2),
    (State.FIN_WAIT_2, Event.RECV_FIN, State.TIME_WAIT),
    (State.TIME_WAIT, Event.TIMEOUT_2MSL, State.CLOSED),
]
PASSIVE_CLOSE = [
    (State.ESTABLISHED, Event.RECV_FIN, State.CLOSE_WAIT),
    (State.CLOSE_WAIT, Event.APP_CLOSE, State.LAST_ACK),
    (State.LAST_ACK, Event.RECV_ACK_OF_FIN, State.CLOSED),
]
SIMULTANEOUS = [
    (State.SYN_SENT, Event.RECV_SYN, State.SYN_RECEIVED),
    (State.FIN_WAIT_1, Event.RECV_FIN, State.CLOSING),
    (State.CLOSING, Event.RECV_ACK_OF_FIN, State.TIME_WAIT),
]


@pytest.mark.parametrize(
    ("state", "event", "after"),
    HANDSHAKE_CLIENT + HANDSHAKE_SERVER + ACTIVE_CLOSE + PASSIVE_CLOSE + SIMULTANEOUS,
)
def test_transition_table_row(state, event, after):
    assert next_state(state, event) is after
    assert step(state, event).source.startswith("RFC 9293")


@given(st.sampled_from(list(State)), st.sampled_from(list(Event)))
def test_only_opening_and_closing_calls_send_a_syn_or_a_fin(state, event):
    row = step(state, event)
    if row is None:
        return
    if Flags.SYN in row.sends:
        assert event in (Event.APP_CONNECT, Event.RECV_SYN)
    if Flags.FIN in row.sends:
        assert event is Event.APP_CLOSE
    assert not row.sends or row.next is not State.CLOSED


def test_every_state_is_reachable_from_closed():
    reached, frontier = {State.CLOSED}, [State.CLOSED]
    while frontier:
        s = frontier.pop()
        for (state, _event), row in TABLE.items():
            if state is s and row.next not in reached:
                reached.add(row.next)
                frontier.append(row.next)
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
