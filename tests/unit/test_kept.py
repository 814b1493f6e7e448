"""A kept connection's numbers are the model endpoint's: Endpoint.kept is Endpoint.from_kept inverted,
and follows what the endpoint received and saw the kernel send (no arithmetic of the engine's own)."""

from tcplab.model.endpoint import Endpoint
from tcplab.model.flags import Flags
from tcplab.model.kept import KeptConnection
from tcplab.model.segment import Segment, parse_options
from tcplab.model.state import State
from tcplab.model.table import Input, Place

KEPT = KeptConnection(iss=1000, kisn=5000, snd_nxt=1001, rcv_nxt=5001, window=64240, wscale=7)


def test_kept_is_from_kept_inverted():
    ep = Endpoint.from_kept(KEPT)
    assert ep.place is Place.ESTABLISHED and ep.wscale == 7
    assert ep.kept() == KEPT


def test_kept_follows_the_data_received_and_the_window_advertised_scaled():
    ep = Endpoint.from_kept(KEPT)
    ep.receive(Segment(40000, 7788, Flags.PSH | Flags.ACK, seq=1001, ack=5001, payload=b"hi"), 0.0)
    ep.observe(Segment(7788, 40000, Flags.ACK, seq=5001, ack=1003, window=500))
    assert ep.kept() == KeptConnection(1000, 5000, 1003, 5001, 500 << 7, 7)


def test_a_rst_in_the_window_leaves_the_numbers_and_out_of_the_window_data_does_not_move_them():
    ep = Endpoint.from_kept(KEPT)
    pred = ep.receive(Segment(40000, 7788, Flags.RST, seq=1100), 0.0)
    assert pred.rule.startswith("rst-in-window") and ep.kept() == KEPT
    far = Segment(40000, 7788, Flags.ACK, seq=1001 + 10_000_000, ack=5001, payload=b"x")
    ep.receive(far, 1.0)
    assert ep.kept() == KEPT


def test_an_endpoint_without_numbers_keeps_nothing():
    assert Endpoint.seen(State.ESTABLISHED).kept() is None


def test_the_handshake_as_both_endpoints_see_it_gives_the_kept_numbers():
    """As tcplab handshake plays it: the crafting side's endpoint makes the third segment (its
    states from the table), the kernel's endpoint predicts and keeps its numbers."""
    me, kernel = Endpoint(), Endpoint.seen(State.LISTEN)
    assert me.call(Input.APP_CONNECT, 0.0).place is Place.SYN_SENT
    syn = Segment(40000, 7788, Flags.SYN, seq=1000, options=parse_options("wscale 7"))
    me.observe(syn)
    assert kernel.receive(syn, 0.0).place is Place.REQUEST
    synack = Segment(
        7788,
        40000,
        Flags.SYN | Flags.ACK,
        seq=5000,
        ack=1001,
        window=65160,
        options=parse_options("wscale 7"),
    )
    kernel.observe(synack)
    answer = me.receive(synack, 0.01)
    assert answer.place is Place.ESTABLISHED and answer.pattern is not None
    assert (answer.pattern.flags, answer.pattern.seq, answer.pattern.ack) == (Flags.ACK, 1001, 5001)
    third = Segment(40000, 7788, Flags.PSH | Flags.ACK, seq=1001, ack=5001, payload=b"hello")
    me.observe(third)
    assert me.snd_nxt == 1006  # the tidy-up RST's seq: the kernel's rcv_nxt once it took the data
    assert kernel.receive(third, 0.02).place is Place.ESTABLISHED and kernel.rcv_nxt == 1006
    assert kernel.kept() == KeptConnection(1000, 5000, 1006, 5001, 65160, 7)
