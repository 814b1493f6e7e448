"""An application's send(): the segments the kernel sends at once (no root: the model).

Recorded on 6.18 with a listener, a crafted handshake, accept() and send() (scenarios/half-close.toml
and scenarios in /tmp like it), relative numbers: 9 bytes in CLOSE_WAIT -> P. 1:10(9) ack 2; 9 bytes
after a SYN without MSS option -> P. 1:10(9); 3000 bytes after a SYN with <mss 1460> -> . 1:1461(1460),
. 1461:2921(1460), P. 2921:3001(80); 2500 bytes after <mss 1000,sackOK,TS,nop,wscale 7> -> 988, 988 and
P. 524 bytes (the timestamp option takes 12 bytes of each). Linux: tcp_sendmsg_locked cuts at
mss_cache, tcp_push marks PSH on the last segment. send() before the handshake completes (EAGAIN on a
non-blocking socket) or after shutdown (EPIPE) sends nothing.
"""

import pytest

from tcplab.model.endpoint import Endpoint
from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment
from tcplab.model.table import Input, Place

F = Flags.from_letters
PEER_ISN, KERNEL_ISN = 1000, 5000
TS = Option("TS", (100, 0))
KERNEL_MSS = (Option("mss", 1460),)  # the kernel's SYN+ACK on this testbed (veth MTU 1500)


def established(peer_options=(), kernel_options=KERNEL_MSS) -> Endpoint:
    """A listener's connection after the crafted SYN (with `peer_options`) and the third ACK."""
    ep = Endpoint()
    ep.call(Input.APP_LISTEN, 0.0)
    syn = Segment(40000, 7788, F("S"), seq=PEER_ISN, window=64240, options=tuple(peer_options))
    assert ep.receive(syn, 0.0).rule == "listen-syn"
    ep.observe(
        Segment(
            7788,
            40000,
            F("SA"),
            seq=KERNEL_ISN,
            ack=PEER_ISN + 1,
            window=64240,
            options=tuple(kernel_options),
        )
    )
    ack = Segment(40000, 7788, F("A"), seq=PEER_ISN + 1, ack=KERNEL_ISN + 1, window=64240)
    assert ep.receive(ack, 0.001).place is Place.ESTABLISHED
    return ep


def shape(preds):
    return [(p.pattern.flags.tcpdump, p.pattern.seq - KERNEL_ISN, p.pattern.length) for p in preds]


def test_a_small_send_in_close_wait_is_one_push_segment():
    ep = established()
    fin = Segment(40000, 7788, F("FA"), seq=PEER_ISN + 1, ack=KERNEL_ISN + 1, window=64240)
    assert ep.receive(fin, 0.01).place is Place.CLOSE_WAIT
    (p,) = ep.send(9, 0.02)
    assert p.rule == "send-data" and p.cause == "app: send() of 9 bytes"
    assert (p.pattern.flags, p.pattern.seq, p.pattern.ack, p.pattern.length) == (
        Flags.PSH | Flags.ACK,
        KERNEL_ISN + 1,
        PEER_ISN + 2,
        9,
    )
    assert p.text() == f"P. seq {KERNEL_ISN + 1} ack {PEER_ISN + 2} len 9" and "len 9" in p.why
    assert ep.snd_nxt == KERNEL_ISN + 10
    close = ep.call(Input.APP_CLOSE, 0.03)
    assert close.rule == "close-wait-fin" and close.pattern.seq == KERNEL_ISN + 10


def test_without_an_mss_option_the_peer_gets_536_byte_segments():
    ep = established()
    assert ep.mss == 536
    assert shape(ep.send(9, 0.01)) == [("P.", 1, 9)]
    assert shape(ep.send(1000, 0.02)) == [(".", 10, 536), ("P.", 546, 464)]


def test_a_large_send_is_cut_at_the_peers_mss_psh_on_the_last():
    ep = established(peer_options=(Option("mss", 1460),))
    preds = ep.send(3000, 0.01)
    assert shape(preds) == [(".", 1, 1460), (".", 1461, 1460), ("P.", 2921, 80)]
    assert [p.rule for p in preds] == ["send-data-full", "send-data-full", "send-data"]


def test_timestamps_on_both_sides_take_12_bytes_of_each_segment():
    ep = established(
        peer_options=(Option("mss", 1000), TS),
        kernel_options=(Option("mss", 1460), Option("TS", (7, 100))),
    )
    assert ep.mss == 988
    assert shape(ep.send(2500, 0.01)) == [(".", 1, 988), (".", 989, 988), ("P.", 1977, 524)]


def test_the_kernel_mss_bounds_the_peers():
    ep = established(peer_options=(Option("mss", 9000),))
    assert ep.mss == 1460


@pytest.mark.parametrize(
    ("how", "place", "rule"),
    [
        ("connect", Place.SYN_SENT, "send-not-connected"),
        ("shutdown", Place.FIN_WAIT_1, "send-after-shutdown"),
        ("listen", Place.LISTEN, "listen-idle"),
    ],
)
def test_send_where_the_kernel_sends_nothing(how, place, rule):
    if how == "shutdown":
        ep = established()
        ep.call(Input.APP_SHUTDOWN, 0.01)
    else:
        ep = Endpoint()
        ep.call(Input.APP_CONNECT if how == "connect" else Input.APP_LISTEN, 0.0)
    before = ep.snd_nxt
    (p,) = ep.send(5, 0.5)
    assert ep.place is place and p.silence and p.rule == rule and ep.snd_nxt == before


def test_a_send_of_nothing_sends_nothing_and_call_wants_the_length():
    ep = established()
    assert ep.send(0, 0.01) == []
    with pytest.raises(ValueError, match="length"):
        ep.call(Input.APP_SEND, 0.01)
