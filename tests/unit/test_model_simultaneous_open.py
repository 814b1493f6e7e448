"""The simultaneous open in the model: Linux's SYN_RECEIVED takes the peer's SYN+ACK when it is the
peer's SYN again (seq + 1 = rcv_nxt) acking snd_nxt exactly, and ACKs it (tcp_validate_incoming's
exception; recorded by lab simultaneous on this machine's kernel). Any other SYN+ACK there gets a
challenge ACK and changes nothing."""

from tcplab.model.endpoint import Endpoint
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.table import Place

F = Flags.from_letters
PEER_ISN, KERNEL_ISN = 1000, 5000


def seg(flags: str, seq: int, ack: int = 0) -> Segment:
    return Segment(40000, 7788, F(flags), seq=seq, ack=ack, window=8192)


def syn_received() -> Endpoint:
    """The kernel connected (SYN_SENT) and got the peer's bare SYN: SYN_RECEIVED."""
    from tcplab.model.table import Input

    ep = Endpoint()
    ep.call(Input.APP_CONNECT, 0.0)
    ep.observe(Segment(7788, 40000, F("S"), seq=KERNEL_ISN, window=64240))
    p = ep.receive(seg("S", PEER_ISN), 0.1)
    assert p.rule == "simultaneous-open" and ep.place is Place.SYN_RECEIVED
    ep.observe(Segment(7788, 40000, F("SA"), seq=KERNEL_ISN, ack=PEER_ISN + 1, window=64240))
    return ep


def test_the_peers_synack_repeating_its_syn_establishes_and_is_acked():
    ep = syn_received()
    p = ep.receive(seg("SA", PEER_ISN, KERNEL_ISN + 1), 0.2)
    assert p.rule == "simultaneous-open-synack" and ep.place is Place.ESTABLISHED
    assert (p.pattern.flags, p.pattern.seq, p.pattern.ack) == (F("A"), KERNEL_ISN + 1, PEER_ISN + 1)
    assert p.taken


def test_a_synack_with_another_seq_or_ack_gets_a_challenge_ack():
    for seq, ack in ((PEER_ISN, KERNEL_ISN), (PEER_ISN + 1, KERNEL_ISN + 1)):
        ep = syn_received()
        p = ep.receive(seg("SA", seq, ack), 0.2)
        assert p.rule.startswith("syn-challenge-ack") and ep.place is Place.SYN_RECEIVED
        assert not p.taken
