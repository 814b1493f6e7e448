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
    # the handshake's round trip (1 ms) is the first sample: RTO = m + max(2m, 200 ms)
    assert ep.rtt == pytest.approx(0.001) and ep.rto == pytest.approx(0.001 + TCP_RTO_MIN)
    (sent,) = ep.send(5, 1.0)
    assert sent.pattern is not None and sent.pattern.seq == KERNEL_ISN + 1
    assert ep.deadline == pytest.approx(1.0 + ep.rto)
    assert ep.fire(1.1) is None
    again = ep.fire(1.0 + ep.rto)
    assert again is not None and again.rule == "data-retransmit"
    pat = again.pattern
    assert pat is not None and (pat.seq, pat.length, pat.flags) == (
        KERNEL_ISN + 1,
        5,
        F("PA"),
    )
    assert ep.snd_nxt == KERNEL_ISN + 6  # a retransmission sends nothing new
    assert ep.deadline == pytest.approx(1.0 + 3 * ep.rto)
    assert ep.place is Place.ESTABLISHED


def test_our_fin_goes_again_at_the_rto_and_its_timer_runs_on_into_closing():
    """Recorded (time-wait's fin_off_by_one_throughout): the kernel's FIN, never ACKed, went
    again 224, 464, 928 and 1824 ms later; the handshake's round trip was 23 ms."""
    ep = established()
    ep.rtt = 0.023
    assert ep.rto == pytest.approx(0.223)
    fin = ep.call(Input.APP_CLOSE, 1.0)
    assert fin.pattern is not None and fin.pattern.flags == F("FA") and ep.place is Place.FIN_WAIT_1
    assert ep.deadline == pytest.approx(1.0 + ep.rto)
    # the peer's FIN (not acking ours): CLOSING; our FIN is still out, its timer is not restarted
    theirs = Segment(40000, 7788, F("FA"), seq=PEER_ISN + 1, ack=KERNEL_ISN + 1, window=64240)
    ep.receive(theirs, 1.1)
    assert ep.place is Place.CLOSING and ep.deadline == pytest.approx(1.0 + ep.rto)
    again = ep.fire(1.0 + ep.rto)
    assert again is not None and again.rule == "fin-retransmit"
    assert again.pattern is not None and again.pattern.seq == KERNEL_ISN + 1
    # the kernel's FIN went out 5 ms after the model's deadline: the next counts from then
    ep.timer_seen(1.0 + ep.rto, 1.0 + ep.rto + 0.005)
    assert ep.deadline == pytest.approx(1.005 + 3 * ep.rto)


def test_an_ack_of_our_fin_stops_its_timer():
    ep = established()
    ep.call(Input.APP_CLOSE, 1.0)
    ack = Segment(40000, 7788, F("A"), seq=PEER_ISN + 1, ack=KERNEL_ISN + 2, window=64240)
    ep.receive(ack, 1.05)
    # close() orphaned it: FIN_WAIT_2 now waits tcp_fin_timeout, no RTO
    assert ep.place is Place.ORPHAN_FIN_WAIT_2
    assert ep.deadline == pytest.approx(1.05 + ep.sysctls.tcp_fin_timeout)


def test_no_rtt_sample_from_a_handshake_whose_synack_went_again():
    ep = Endpoint()
    ep.call(Input.APP_LISTEN, 0.0)
    ep.receive(_syn(), 0.0)
    synack = Segment(7788, 40000, F("SA"), seq=KERNEL_ISN, ack=PEER_ISN + 1, window=64240)
    ep.observe(synack)
    assert ep.fire(1.0) is not None  # the SYN+ACK again (Karn: no sample from it)
    ep.observe(synack)
    ack = Segment(40000, 7788, F("A"), seq=PEER_ISN + 1, ack=KERNEL_ISN + 1, window=64240)
    ep.receive(ack, 1.5)
    assert ep.place is Place.ESTABLISHED and ep.rtt is None and ep.rto == TCP_RTO_MIN


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
    assert ep.deadline == pytest.approx(1.1 + ep.rto)
    again = ep.fire(1.1 + ep.rto)
    assert again is not None and again.pattern is not None
    assert (again.pattern.seq, again.pattern.length) == (KERNEL_ISN + 1 + mss, mss)
