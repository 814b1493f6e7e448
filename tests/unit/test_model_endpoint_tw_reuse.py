"""connect() onto a 4-tuple the kernel holds in TIME_WAIT (tcp_twsk_unique), as seen on this
machine's kernel (6.18) between two namespaces, with one ephemeral port (ip_local_port_range
32768 32768): refused at once (EADDRNOTAVAIL); with tcp_tw_reuse = 1, timestamps on the old
connection and more than tcp_tw_reuse_delay (1000 ms) since TIME_WAIT began, the kernel's SYN
goes out on the same 4-tuple with ISN = the old snd_nxt + 65537; without timestamps, or with
tcp_tw_reuse = 0 or 2 (loopback only), never.
"""

from tcplab.model.endpoint import Endpoint, Sysctls
from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment
from tcplab.model.table import Input, Place

F = Flags.from_letters
KPORT, PORT = 32768, 41001  # the kernel's one port, the peer's
KERNEL_ISN, PEER_ISN = 7000, 5000
TS = (Option("TS", (100, 900)),)


def peer(flags, seq, ack, options=TS):
    return Segment(PORT, KPORT, F(flags), seq=seq, ack=ack, window=64240, options=options)


def client_in_time_wait(ts: bool = True, reuse: int = 1) -> Endpoint:
    """The kernel connect()s, the peer answers (with timestamps or not), the kernel closes
    first and ends in TIME_WAIT at t = 1.0."""
    ep = Endpoint(sysctls=Sysctls(tcp_tw_reuse=reuse))
    assert ep.call(Input.APP_CONNECT, 0.0).rule == "connect-syn"
    ep.observe(Segment(KPORT, PORT, F("S"), seq=KERNEL_ISN, window=64240, options=TS))
    opts = TS if ts else ()
    p = ep.receive(peer("SA", PEER_ISN, KERNEL_ISN + 1, opts), 0.1)
    assert p.rule == "syn-sent-syn-ack" and ep.place is Place.ESTABLISHED
    assert ep.call(Input.APP_CLOSE, 0.5).pattern.seq == KERNEL_ISN + 1
    ep.receive(peer("A", PEER_ISN + 1, KERNEL_ISN + 2, opts), 0.6)
    p = ep.receive(peer("FA", PEER_ISN + 1, KERNEL_ISN + 2, opts), 1.0)
    assert ep.place is Place.TIME_WAIT and p.pattern.ack == PEER_ISN + 2
    return ep


def test_connect_onto_a_fresh_time_wait_is_refused_and_sends_nothing():
    ep = client_in_time_wait()
    p = ep.call(Input.APP_CONNECT, 1.5)
    assert p.rule == "time-wait-connect-too-soon" and p.silence
    assert ep.place is Place.TIME_WAIT


def test_after_the_reuse_delay_connect_takes_over_the_4_tuple_with_isn_plus_65537():
    ep = client_in_time_wait()
    p = ep.call(Input.APP_CONNECT, 2.2)
    assert p.rule == "time-wait-reuse" and p.pattern.flags == Flags.SYN
    assert p.pattern.seq == KERNEL_ISN + 2 + 65537 and ep.place is Place.SYN_SENT
    assert "65537" in p.why and ep.deadline == 3.2  # the new SYN's own 1 s timer


def test_the_reused_connection_starts_afresh():
    ep = client_in_time_wait()
    ep.call(Input.APP_CONNECT, 2.2)
    assert not ep.fin_sent and not ep.orphan and ep.rcv_nxt is None
    new_isn = KERNEL_ISN + 2 + 65537
    p = ep.receive(peer("SA", 9000, new_isn + 1), 2.3)
    assert p.rule == "syn-sent-syn-ack" and (p.pattern.seq, p.pattern.ack) == (new_isn + 1, 9001)
    p = ep.call(Input.APP_CLOSE, 2.4)
    assert p.rule == "close-fin" and p.pattern.seq == new_isn + 1


def test_no_reuse_without_timestamps():
    ep = client_in_time_wait(ts=False)
    assert ep.call(Input.APP_CONNECT, 5.0).rule == "time-wait-connect-no-timestamps"


def test_no_reuse_with_tw_reuse_0_or_2_between_namespaces():
    for reuse in (0, 2):
        ep = client_in_time_wait(reuse=reuse)
        assert ep.call(Input.APP_CONNECT, 5.0).rule == "time-wait-connect-off"


def test_the_delay_is_tcp_tw_reuse_delay():
    ep = client_in_time_wait()
    ep.sysctls = Sysctls(tcp_tw_reuse=1, tcp_tw_reuse_delay=100)
    assert ep.call(Input.APP_CONNECT, 1.2).rule == "time-wait-reuse"
