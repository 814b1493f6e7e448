"""The end of a check's wait for late segments (tcplab/exercise/quiet.py), against the real kernel:
it ends early only when nothing more can come within the quiet window, and never cuts off a
segment the kernel sends in that window (a retransmission, a delayed ACK)."""

from __future__ import annotations

import time

import pytest

from tcplab.app.protocol import ListAccepted, Send, SetSockOpt
from tcplab.engine.session import Session
from tcplab.exercise.quiet import Drained, drain_after
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.seqnum import seq_add
from tcplab.netns.record import TestbedSpec

pytestmark = pytest.mark.netns
PORT = 7788
ISN = 1000


def _handshake(s: Session, sport: int) -> tuple[int, int]:
    """A connection from `sport`, accepted by the application: (its id, the kernel's ISN)."""
    s.send(Segment(sport, PORT, Flags.SYN, seq=ISN), echo=True)
    synack = s.next_from_kernel(1.0)
    assert synack is not None and synack.segment.flags == Flags.SYN | Flags.ACK
    kisn = synack.segment.seq
    s.send(Segment(sport, PORT, Flags.ACK, seq=ISN + 1, ack=seq_add(kisn, 1)), echo=True)
    for _ in range(100):
        conns = s.app.call(ListAccepted(port=PORT)).connections
        found = [c for c in conns if c.peer is not None and c.peer[1] == sport]
        if found:
            return found[0].id, kisn
        time.sleep(0.01)
    raise AssertionError("the application accepted no connection")


def _from_kernel(s: Session, start: int) -> list[Segment]:
    return [x.segment for x in s.seen[start:] if x.from_kernel]


def test_after_a_complete_handshake_the_wait_ends_early(lab: TestbedSpec):
    with Session(lab) as s:
        _handshake(s, 40001)
        assert drain_after(s) is Drained.EARLY


def test_a_retransmission_within_the_window_is_still_read(lab: TestbedSpec):
    """Data the crafting side never acknowledges: the kernel's retransmission timer (RTO of about
    200 ms after a fast handshake) fires within the 0.3 s window, so it must be waited for."""
    with Session(lab) as s:
        conn, _kisn = _handshake(s, 40002)
        start = len(s.seen)
        s.app.call(Send(id=conn, data="late"))
        drain_after(s)  # may end early once the next retransmission is past the window
        data = [seg for seg in _from_kernel(s, start) if seg.payload == b"late"]
        assert len(data) >= 2, "the retransmission within the window was cut off"


def test_a_delayed_ack_is_still_read(lab: TestbedSpec):
    """With TCP_QUICKACK off the kernel delays its ACK of our data (40 ms or more), and the
    delayed-ACK timer is not in the socket table: the unacknowledged data must keep the wait."""
    with Session(lab) as s:
        conn, kisn = _handshake(s, 40003)
        s.app.call(SetSockOpt(id=conn, name="TCP_QUICKACK", value=0))
        start = len(s.seen)
        data = Segment(40003, PORT, Flags.PSH | Flags.ACK, ISN + 1, seq_add(kisn, 1), payload=b"hi")
        s.send(data)
        drain_after(s)
        acks = [seg for seg in _from_kernel(s, start) if seg.ack == data.end_seq]
        assert acks, "the kernel's delayed ACK was cut off"
        ack_at = next(x.time for x in s.seen[start:] if x.from_kernel)
        sent_at = next(x.time for x in s.seen[start:] if not x.from_kernel)
        assert ack_at - sent_at > 0.02  # it really was delayed: this test shows the rule works


def test_without_proof_it_waits_the_whole_window(lab: TestbedSpec):
    with Session(lab) as s:
        _handshake(s, 40004)
        assert drain_after(s, ended_cleanly=False) is Drained.WINDOW
