"""The kernel's answer to one segment, from the one table through the endpoint (what `send` and
`handshake` predict): table-driven over the rules, and a property over every state and segment."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcplab.model.endpoint import Endpoint
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.seqnum import MOD
from tcplab.model.state import State
from tcplab.model.table import ROWS

letters = Flags.from_letters  # scapy's letters, '' for no flags
RULE_IDS = {case.rule for row in ROWS for case in row.cases}


def seg(flags, seq=100, ack=0, payload=b""):
    return Segment(40000, 7788, letters(flags), seq=seq, ack=ack, payload=payload)


def at(state, snd_nxt=None, rcv_nxt=None, rcv_wnd=65535):
    ep = Endpoint.seen(state, snd_nxt=snd_nxt, rcv_nxt=rcv_nxt, rcv_wnd=rcv_wnd)
    if snd_nxt is not None and state in (State.SYN_SENT, State.SYN_RECEIVED):
        ep.iss = (snd_nxt - 1) % MOD  # the SYN it sent
    return ep


ESTABLISHED = (State.ESTABLISHED, 5000, 9000, 1000)


@pytest.mark.parametrize(
    ("where", "segment", "flags", "seq", "ack"),
    [
        # no socket: RST+ACK for a segment without ACK, RST seq=ack for one with ACK
        ((None,), seg("S", seq=100), "RA", 0, 101),
        ((None,), seg("F", seq=100), "RA", 0, 101),
        ((None,), seg("", seq=100, payload=b"abc"), "RA", 0, 103),
        ((None,), seg("SF", seq=100), "RA", 0, 102),
        ((None,), seg("A", ack=777), "R", 777, None),
        ((None,), seg("SA", ack=777), "R", 777, None),
        ((None,), seg("SFA", ack=777), "R", 777, None),
        ((None,), seg("R"), None, None, None),
        ((None,), seg("RA", ack=5), None, None, None),
        # a listener
        ((State.LISTEN,), seg("S", seq=MOD - 1), "SA", None, 0),
        ((State.LISTEN,), seg("A", ack=31337), "R", 31337, None),
        ((State.LISTEN,), seg("SA", ack=12), "R", 12, None),
        ((State.LISTEN,), seg("R"), None, None, None),
        ((State.LISTEN,), seg("SF"), None, None, None),
        ((State.LISTEN,), seg("SFA", ack=778), "R", 778, None),
        ((State.LISTEN,), seg("F"), None, None, None),
        # the kernel as client
        ((State.SYN_SENT, 1001), seg("SA", seq=50, ack=999), "R", 999, None),
        ((State.SYN_SENT, 1001), seg("SA", seq=50, ack=1001), "A", 1001, 51),
        ((State.SYN_SENT, 1001), seg("S", seq=50), "SA", 1000, 51),
        ((State.SYN_SENT, 1001), seg("A", ack=3), "R", 3, None),
        # a request sock
        ((State.SYN_RECEIVED, 2001, 101), seg("A", seq=101, ack=2001), None, None, None),
        ((State.SYN_RECEIVED, 2001, 101), seg("A", seq=101, ack=2005), "R", 2005, None),
        (
            (State.SYN_RECEIVED, 2001, 7),
            seg("PA", seq=7, ack=2001, payload=b"hello"),
            "A",
            2001,
            12,
        ),
        # synchronized: challenge ACKs and RSTs (RFC 5961)
        (ESTABLISHED, seg("S", seq=1), "A", 5000, 9000),
        (ESTABLISHED, seg("R", seq=9000), None, None, None),
        (ESTABLISHED, seg("R", seq=9001), "A", 5000, 9000),
        (ESTABLISHED, seg("R", seq=20000), None, None, None),
        (ESTABLISHED, seg("F", seq=9000), None, None, None),
        # Linux: after the peer's FIN, a RST at rcv_nxt - 1 resets too
        ((State.CLOSE_WAIT, 5000, 9001, 1000), seg("R", seq=9000), None, None, None),
    ],
)
def test_expected_answer(where, segment, flags, seq, ack):
    pred = at(*where).receive(segment, 0.0)
    assert pred.rule in RULE_IDS and pred.rfc
    assert pred.silence is (flags is None)
    if flags is not None:
        assert pred.pattern.flags == letters(flags)
        assert (pred.pattern.seq, pred.pattern.ack) == (seq, ack)


def test_syn_fin_at_a_listener_says_where_linux_departs_from_the_rfc():
    assert "RFC 9293" in at(State.LISTEN).receive(seg("SF"), 0.0).linux


def test_challenge_ack_mentions_linux_rate_limit():
    assert "rate" in at(*ESTABLISHED).receive(seg("S"), 0.0).linux


flag_sets = st.sets(st.sampled_from("FSRPAUEC")).map(lambda s: "".join(s))
states = st.one_of(st.none(), st.sampled_from(list(State)))
u32 = st.integers(min_value=0, max_value=MOD - 1)
maybe_u32 = st.one_of(st.none(), u32)


@given(states, flag_sets, u32, u32, maybe_u32, maybe_u32, st.binary(max_size=20))
def test_every_state_and_segment_gets_an_answer_from_the_table(
    state, flags, seq, ack, snd_nxt, rcv_nxt, payload
):
    ep = at(state, snd_nxt=snd_nxt, rcv_nxt=rcv_nxt)
    pred = ep.receive(Segment(1, 2, letters(flags), seq=seq, ack=ack, payload=payload), 0.0)
    assert pred.why and pred.rule in RULE_IDS
    assert pred.silence or pred.pattern.flags
    if "R" in flags:  # a RST is never answered by a RST, at most by a challenge ACK
        assert pred.silence or pred.pattern.flags == Flags.ACK
