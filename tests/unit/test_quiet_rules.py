"""The pure parts of the end of a wait (tcplab/engine/quiet.py, the model's ack_owed): which segments may
still owe a delayed ACK, and which timers of the socket table send within the window."""

from __future__ import annotations

import pytest

from tcplab.engine.quiet import MARGIN, any_ack_owed, next_timer
from tcplab.engine.seen import Seen
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.state import State
from tcplab.netns.diag import SocketRow

A, K = "10.77.0.1", "10.77.0.2"
MOD = 1 << 32


def ours(flags: Flags, seq: int, ack: int = 0, payload: bytes = b"", port: int = 40000) -> Seen:
    return Seen(Segment(port, 7788, flags, seq, ack, payload=payload), A, K, 0.0, False, True)


def theirs(flags: Flags, seq: int, ack: int, port: int = 40000) -> Seen:
    return Seen(Segment(7788, port, flags, seq, ack), K, A, 0.0, True, True)


def test_data_not_yet_acknowledged_may_owe_an_ack():
    assert any_ack_owed([ours(Flags.PSH | Flags.ACK, 1, 9, b"hi")])


def test_data_acknowledged_by_a_later_kernel_segment_owes_nothing():
    assert not any_ack_owed([ours(Flags.PSH | Flags.ACK, 1, 9, b"hi"), theirs(Flags.ACK, 9, 3)])


def test_an_ack_below_the_data_s_end_does_not_settle_it():
    assert any_ack_owed([ours(Flags.PSH | Flags.ACK, 1, 9, b"hi"), theirs(Flags.ACK, 9, 2)])


def test_an_ack_on_another_connection_does_not_settle_it():
    seen = [ours(Flags.PSH | Flags.ACK, 1, 9, b"hi"), theirs(Flags.ACK, 9, 3, port=40001)]
    assert any_ack_owed(seen)


@pytest.mark.parametrize("flags", [Flags.SYN, Flags.FIN | Flags.ACK, Flags.SYN | Flags.ACK])
def test_syn_and_fin_take_sequence_space(flags: Flags):
    assert any_ack_owed([ours(flags, 5, 1)])
    assert not any_ack_owed([ours(flags, 5, 1), theirs(Flags.ACK | Flags.SYN, 0, 6)])


def test_pure_acks_and_rsts_owe_nothing():
    assert not any_ack_owed([ours(Flags.ACK, 5, 1), ours(Flags.RST, 5)])


def test_acks_across_the_wrap_of_sequence_numbers():
    data = ours(Flags.PSH | Flags.ACK, MOD - 1, 9, b"hi")  # ends at 1, past the wrap
    assert not any_ack_owed([data, theirs(Flags.ACK, 9, 1)])
    assert any_ack_owed([data, theirs(Flags.ACK, 9, MOD - 1)])


def test_a_segment_the_kernel_did_not_receive_owes_nothing():
    lost = Seen(Segment(40000, 7788, Flags.PSH | Flags.ACK, 1, 9, payload=b"x"), A, K, 0.0,
                False, True, delivered=False)  # fmt: skip
    assert not any_ack_owed([lost])


def row(timer: str, expires_ms: int) -> SocketRow:
    return SocketRow(State.ESTABLISHED, 1, K, 7788, A, 40000, timer, expires_ms, 0, 0, 0, 1)


@pytest.mark.parametrize("timer", ["on", "keepalive", "persist", "timewait"])
def test_a_timer_within_the_window_is_waited_for(timer: str):
    """Those send a segment; TIME_WAIT's ends its socket, which the sampler would see."""
    wait = next_timer([row(timer, 120)], 0.3)
    assert wait is not None and wait >= 0.12


def test_a_socket_without_a_timer_is_not_waited_for():
    assert next_timer([row("off", 50)], 0.3) is None


def test_a_timer_past_the_window_is_not_waited_for():
    assert next_timer([row("on", int((0.3 + 2 * MARGIN) * 1000))], 0.3) is None


def test_a_timer_at_the_window_s_edge_is_waited_for():
    assert next_timer([row("on", 305)], 0.3) is not None


def test_data_waiting_in_a_write_queue_is_waited_for_whatever_its_timer():
    waiting = SocketRow(State.ESTABLISHED, 1, K, 7788, A, 40000, "off", 0, 0, 0, 5, 1)
    assert next_timer([waiting], 0.3) == 0.0


def test_the_furthest_segment_counts_not_the_last_one():
    """A retransmission of older data after newer data: the ACK must cover the newer data."""
    seen = [
        ours(Flags.PSH | Flags.ACK, 1, 9, b"abcd"),
        ours(Flags.PSH | Flags.ACK, 1, 9, b"ab"),
        theirs(Flags.ACK, 9, 3),
    ]
    assert any_ack_owed(seen)


def test_a_listener_s_backlog_is_not_data_waiting():
    """inet_diag reports a listener's backlog size as its wqueue."""
    listener = SocketRow(State.LISTEN, 10, K, 7788, "0.0.0.0", 0, "off", 0, 0, 0, 128, 1)
    assert next_timer([listener], 0.3) is None
