"""The kernel as client in SYN_SENT: an unacceptable ack cuts the SYN's timer (no root: the model).

Recorded on 6.18 (CONFIG_HZ=250) with scenarios like scenarios/linux-syn-sent-rst.toml, times in
seconds after the kernel's first SYN: a RST+ACK with a bad ack at 0.0015 was dropped and the SYN went
out again at 0.0127; a second one at 0.0137 changed nothing (next SYN at 1.0167; at 2.029 with
tcp_syn_linear_timeouts = 0). A bare RST at 0.167 left the timer alone (SYN at 1.009); a bad-ack RST+ACK
after the SYN at 1.0144 too (next SYN at 2.038). A bad-ack ACK or FIN+ACK got a RST with seq = its ack
and the SYN 11-12 ms later. Linux: tcp_rcv_synsent_state_process rearms ICSK_TIME_RETRANS to
TCP_TIMEOUT_MIN while icsk_retransmits == 0, then reset_and_undo.
"""

import pytest

from tcplab.model.endpoint import TCP_TIMEOUT_MIN, Endpoint, Sysctls
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.table import Input, Place

F = Flags.from_letters
PEER_ISN, KERNEL_ISN = 1000, 5000


def seg(flags: str, ack: int, seq: int = PEER_ISN) -> Segment:
    return Segment(40000, 7788, F(flags), seq=seq, ack=ack, window=64240)


def connecting(sysctls: Sysctls | None = None) -> Endpoint:
    """connect() at 0: the SYN is out, its timer due at 1 s."""
    ep = Endpoint(sysctls=sysctls or Sysctls())
    assert ep.call(Input.APP_CONNECT, 0.0).rule == "connect-syn"
    ep.observe(Segment(7788, 40000, F("S"), seq=KERNEL_ISN, window=64240))
    assert ep.place is Place.SYN_SENT and ep.deadline == 1.0
    return ep


def test_syn_sent_rst_with_bad_ack_is_dropped_and_the_syn_resent_within_ms():
    ep = connecting()
    p = ep.receive(seg("RA", ack=KERNEL_ISN + 5), 0.0015)
    assert p.silence and p.rule == "syn-sent-rst-bad-ack" and p.place is Place.SYN_SENT
    assert "TCP_TIMEOUT_MIN" in p.why and "tcp_rcv_synsent_state_process" in p.linux
    assert ep.deadline == pytest.approx(0.0015 + TCP_TIMEOUT_MIN)
    assert ep.fire(0.005) is None
    t = ep.fire(0.0127)
    assert t is not None and t.rule == "syn-retransmit-early"
    assert t.cause == "timer: retransmission timer" and not t.silence
    assert (t.pattern.flags, t.pattern.seq) == (Flags.SYN, KERNEL_ISN)
    assert ep.deadline == pytest.approx(0.0015 + TCP_TIMEOUT_MIN + 1.0)  # 1.0167 measured


def test_a_second_bad_ack_after_the_early_syn_leaves_the_timer_alone():
    ep = connecting()
    ep.receive(seg("RA", ack=KERNEL_ISN + 5), 0.0015)
    ep.fire(0.0127)
    due = ep.deadline
    p = ep.receive(seg("RA", ack=KERNEL_ISN + 5), 0.0137)
    assert p.silence and p.rule == "syn-sent-rst-bad-ack-retransmitted" and ep.deadline == due
    assert ep.fire(due).rule == "syn-retransmit"


def test_the_early_syn_counts_as_the_first_retransmission_of_the_schedule():
    ep = connecting(Sysctls(tcp_syn_linear_timeouts=0))
    ep.receive(seg("RA", ack=KERNEL_ISN + 5), 0.0018)
    ep.fire(0.0129)
    assert ep.deadline == pytest.approx(0.0018 + TCP_TIMEOUT_MIN + 2.0)  # 2.029 measured


def test_syn_sent_rst_without_ack_leaves_the_syn_timer_alone():
    ep = connecting()
    p = ep.receive(seg("R", ack=0), 0.167)
    assert p.silence and p.rule == "syn-sent-rst-ignored" and ep.deadline == 1.0
    assert ep.fire(1.0).rule == "syn-retransmit"  # 1.009 measured


def test_a_bad_ack_after_a_syn_retransmission_does_not_shorten_the_timer():
    ep = connecting()
    assert ep.fire(1.0).rule == "syn-retransmit"
    p = ep.receive(seg("RA", ack=KERNEL_ISN + 5), 1.0159)
    assert p.rule == "syn-sent-rst-bad-ack-retransmitted" and ep.deadline == 2.0  # 2.038 measured


@pytest.mark.parametrize("flags", ["A", "FA", "SA"])
def test_a_bad_ack_without_rst_gets_a_rst_and_the_syn_resent_within_ms(flags):
    ep = connecting()
    p = ep.receive(seg(flags, ack=KERNEL_ISN + 5), 0.0961)
    assert p.rule == "syn-sent-bad-ack" and ep.place is Place.SYN_SENT
    assert (p.pattern.flags, p.pattern.seq) == (Flags.RST, KERNEL_ISN + 5)
    t = ep.fire(0.1076)
    assert t is not None and t.rule == "syn-retransmit-early" and t.pattern.seq == KERNEL_ISN


def test_an_ack_of_iss_is_as_bad_as_one_beyond_snd_nxt():
    ep = connecting()
    p = ep.receive(seg("RA", ack=KERNEL_ISN), 0.1)
    assert p.rule == "syn-sent-rst-bad-ack" and ep.place is Place.SYN_SENT


def test_a_rst_acking_the_syn_refuses_the_connection():
    ep = connecting()
    p = ep.receive(seg("RA", ack=KERNEL_ISN + 1), 0.1)
    assert p.silence and p.rule == "syn-sent-rst" and ep.place is Place.NO_SOCKET


def test_a_late_fire_schedules_from_the_deadline_not_from_now():
    ep = connecting()
    assert ep.fire(1.4).rule == "syn-retransmit"
    assert ep.deadline == 2.0
