"""What the link does to a connection, in the model (no root): a segment whose checksum does not hold
is dropped unseen wherever it arrives, and data nobody acknowledges goes again when the RTO runs out.

Recorded on 6.18 (scenarios/bad-checksum.toml, scenarios/data-retransmission.toml): a SYN with a bad
checksum to a listener or a closed port gets nothing; 5 bytes sent after a crafted handshake and never
acknowledged went again 0.208 s later, then 0.436 s after that (RTO = srtt/8 + rttvar >= 200 ms,
doubling).
"""

import pytest

from tcplab.model.endpoint import TCP_RTO_MIN, Endpoint
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.table import Input, Place
from tests.unit.test_model_endpoint_send import KERNEL_ISN, PEER_ISN, established

F = Flags.from_letters


def _syn() -> Segment:
    return Segment(40000, 7788, F("S"), seq=PEER_ISN, window=64240)


@pytest.mark.parametrize("listening", [True, False])
def test_bad_checksum_gets_no_answer_and_changes_nothing(listening):
    ep = Endpoint()
    if listening:
        ep.call(Input.APP_LISTEN, 0.0)
    before = ep.place
    p = ep.receive(_syn(), 0.0, checksum_ok=False)
    assert p.silence and p.rule == "bad-checksum" and "TcpInCsumErrors" in p.linux
    assert ep.place is before and ep.syn_queue == 0


def test_bad_checksum_data_is_not_taken():
    ep = established()
    data = Segment(40000, 7788, F("PA"), seq=PEER_ISN + 1, ack=KERNEL_ISN + 1, payload=b"hi")
    assert ep.receive(data, 1.0, checksum_ok=False).silence
    assert ep.rcv_nxt == PEER_ISN + 1 and ep.unread == 0


def test_unacknowledged_data_goes_again_at_the_rto_doubling():
    ep = established()
    (sent,) = ep.send(5, 1.0)
    assert sent.pattern is not None and sent.pattern.seq == KERNEL_ISN + 1
    assert ep.deadline == pytest.approx(1.0 + TCP_RTO_MIN)
    assert ep.fire(1.1) is None
    again = ep.fire(1.0 + TCP_RTO_MIN)
    assert again is not None and again.rule == "data-retransmit"
    pat = again.pattern
    assert pat is not None and (pat.seq, pat.length, pat.flags) == (
        KERNEL_ISN + 1,
        5,
        F("PA"),
    )
    assert ep.snd_nxt == KERNEL_ISN + 6  # a retransmission sends nothing new
    assert ep.deadline == pytest.approx(1.0 + 3 * TCP_RTO_MIN)
    assert ep.place is Place.ESTABLISHED


def test_an_ack_of_everything_stops_the_data_timer():
    ep = established()
    ep.send(5, 1.0)
    ack = Segment(40000, 7788, F("A"), seq=PEER_ISN + 1, ack=KERNEL_ISN + 6, window=64240)
    ep.receive(ack, 1.05)
    assert ep.deadline is None and ep.fire(5.0) is None


def test_an_ack_of_part_restarts_the_data_timer():
    ep = established()
    ep.send(3000, 1.0)
    mss = ep.mss
    ack = Segment(40000, 7788, F("A"), seq=PEER_ISN + 1, ack=KERNEL_ISN + 1 + mss, window=64240)
    ep.receive(ack, 1.1)
    assert ep.deadline == pytest.approx(1.1 + TCP_RTO_MIN)
    again = ep.fire(1.1 + TCP_RTO_MIN)
    assert again is not None and again.pattern is not None
    assert (again.pattern.seq, again.pattern.length) == (KERNEL_ISN + 1 + mss, mss)
