"""When the kernel gives up a SYN or a SYN+ACK, as measured on this kernel (no root: the model).

Recorded on 6.18 (CONFIG_HZ=250) with a connect() nobody answers, times in seconds after the first
SYN, the socket's state read after the last SYN (scenarios in /tmp like scenarios/linux-syn-retries):

  tcp_syn_retries, tcp_syn_linear_timeouts   SYNs at                          CLOSED at
  1, 4                                       0, 1.02, 2.05                    3 (3.06: no SYN)
  2, 4                                       0, 1.02, 2.04, 3.07, 4.09, 5.12   7 (no SYN at 7)
  3, 4                                       0, 1.03, 2.05, 3.07, 4.10, 5.12,  SYN_SENT at 18.8,
                                             7.14, 11.17                      CLOSED at 19.6
  1, 0                                       0, 1.03                          3
  2, 0                                       0, 1.01, 3.02                    7
  3, 0                                       0, 1.02, 3.04, 7.07              15

Linux (net/ipv4/tcp_timer.c, tcp_write_timeout) gives up when the timer runs and either
icsk_retransmits >= tcp_syn_retries + tcp_syn_linear_timeouts, or the time since the first SYN
(retrans_stamp) reaches tcp_model_timeout(tcp_syn_retries) = (2 << n) - 1 s: a count alone would
have sent five SYN retransmissions for (1, 4). A listener's SYN+ACK (reqsk_timer_handler,
syn_ack_recalc) is counted: tcp_synack_retries = 1, 2, 3 sent SYN+ACKs at 0, 1.03 / 0, 1.03, 3.05 /
0, 1.02, 3.04, 7.07, and the request sock was gone when checked at 6, 10 and 18 s.
"""

import pytest

from tcplab.model.endpoint import Endpoint, Sysctls, model_timeout
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.table import Input, Place

F = Flags.from_letters
KERNEL_ISN = 5000


def schedule(ep: Endpoint, place: Place) -> tuple[list[float], float]:
    """Fire every timer at its deadline: the times a segment went out, and when it gave up."""
    sent = []
    while ep.place is place:
        due = ep.deadline
        p = ep.fire(due)
        if p.silence:
            return sent, due
        sent.append(due)
    raise AssertionError("the place changed without a timer")


@pytest.mark.parametrize(
    ("retries", "linear", "sent", "gave_up"),
    [
        (1, 4, [1, 2], 3),
        (2, 4, [1, 2, 3, 4, 5], 7),
        (3, 4, [1, 2, 3, 4, 5, 7, 11], 19),
        (1, 0, [1], 3),
        (2, 0, [1, 3], 7),
        (3, 0, [1, 3, 7], 15),
    ],
)
def test_syn_retransmissions_and_give_up_as_measured(retries, linear, sent, gave_up):
    ep = Endpoint(sysctls=Sysctls(tcp_syn_retries=retries, tcp_syn_linear_timeouts=linear))
    ep.call(Input.APP_CONNECT, 0.0)
    ep.observe(Segment(40000, 7788, F("S"), seq=KERNEL_ISN, window=64240))
    times, end = schedule(ep, Place.SYN_SENT)
    assert times == sent and end == gave_up and ep.place is Place.NO_SOCKET


def test_the_give_up_is_explained_by_the_time_limit():
    ep = Endpoint(sysctls=Sysctls(tcp_syn_retries=1, tcp_syn_linear_timeouts=4))
    ep.call(Input.APP_CONNECT, 0.0)
    for due in (1.0, 2.0):
        assert ep.fire(due).rule == "syn-retransmit"
    p = ep.fire(3.0)
    assert p.silence and p.rule == "syn-sent-timed-out" and p.cause == "timer: retries exhausted"
    assert "tcp_model_timeout" in p.linux and "retrans_stamp" in p.linux


def test_a_late_timer_call_still_decides_at_the_deadline():
    ep = Endpoint(sysctls=Sysctls(tcp_syn_retries=1, tcp_syn_linear_timeouts=4))
    ep.call(Input.APP_CONNECT, 0.0)
    assert ep.fire(1.02).rule == "syn-retransmit" and ep.deadline == 2.0
    assert ep.fire(2.05).rule == "syn-retransmit" and ep.deadline == 3.0
    assert ep.fire(2.99) is None
    assert ep.fire(3.06).rule == "syn-sent-timed-out"


@pytest.mark.parametrize(
    ("boundary", "seconds"), [(0, 1), (1, 3), (2, 7), (3, 15), (6, 127), (7, 247), (8, 367)]
)
def test_model_timeout_as_tcp_timer_c_computes_it(boundary, seconds):
    assert model_timeout(boundary, 120000) == seconds


def test_model_timeout_follows_tcp_rto_max_ms():
    assert model_timeout(6, 10000) == 15 + 3 * 10  # ilog2(10) = 3: 1+2+4+8, then 10 s each


def test_the_rto_stops_doubling_at_tcp_rto_max_ms():
    ep = Endpoint(
        sysctls=Sysctls(tcp_syn_retries=6, tcp_syn_linear_timeouts=0, tcp_rto_max_ms=5000)
    )
    ep.call(Input.APP_CONNECT, 0.0)
    times, _ = schedule(ep, Place.SYN_SENT)
    assert times == [1, 3, 7, 12, 17, 22]


@pytest.mark.parametrize(
    ("retries", "sent", "gave_up"), [(1, [1], 3), (2, [1, 3], 7), (3, [1, 3, 7], 15)]
)
def test_synack_retransmissions_are_counted(retries, sent, gave_up):
    ep = Endpoint(sysctls=Sysctls(tcp_synack_retries=retries))
    ep.call(Input.APP_LISTEN, 0.0)
    syn = Segment(40000, 7788, F("S"), seq=1000, window=64240)
    assert ep.receive(syn, 0.0).rule == "listen-syn"
    ep.observe(Segment(7788, 40000, F("SA"), seq=KERNEL_ISN, ack=1001, window=64240))
    times, end = schedule(ep, Place.REQUEST)
    assert times == sent and end == gave_up and ep.place is Place.LISTEN
