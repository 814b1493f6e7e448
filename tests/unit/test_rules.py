"""Table-driven tests for each rule of the kernel's answers, and a property over every pair."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcplab.model.flags import Flags
from tcplab.model.rules import ANSWERS, Context, Input, Situation, classify, expect_answer
from tcplab.model.segment import Segment
from tcplab.model.seqnum import MOD
from tcplab.model.state import State

ESTABLISHED = Context(State.ESTABLISHED, snd_nxt=5000, rcv_nxt=9000, rcv_wnd=1000)


letters = Flags.from_letters  # scapy's letters, '' for no flags


def seg(flags, seq=100, ack=0, payload=b""):
    return Segment(40000, 7788, letters(flags), seq=seq, ack=ack, payload=payload)


@pytest.mark.parametrize(
    ("ctx", "segment", "silence", "flags", "seq", "ack"),
    [
        # no socket: RST+ACK for a segment without ACK, RST seq=ack for one with ACK
        (Context(None), seg("S", seq=100), False, "RA", 0, 101),
        (Context(None), seg("F", seq=100), False, "RA", 0, 101),
        (Context(None), seg("", seq=100, payload=b"abc"), False, "RA", 0, 103),
        (Context(None), seg("SF", seq=100), False, "RA", 0, 102),
        (Context(None), seg("A", ack=777), False, "R", 777, None),
        (Context(None), seg("SA", ack=777), False, "R", 777, None),
        (Context(None), seg("SFA", ack=777), False, "R", 777, None),
        (Context(None), seg("R"), True, None, None, None),
        (Context(None), seg("RA", ack=5), True, None, None, None),
        # a listener
        (Context(State.LISTEN), seg("S", seq=MOD - 1), False, "SA", None, 0),
        (Context(State.LISTEN), seg("A", ack=31337), False, "R", 31337, None),
        (Context(State.LISTEN), seg("SA", ack=12), False, "R", 12, None),
        (Context(State.LISTEN), seg("R"), True, None, None, None),
        (Context(State.LISTEN), seg("SF"), True, None, None, None),
        (Context(State.LISTEN), seg("SFA", ack=778), False, "R", 778, None),
        (Context(State.LISTEN), seg("F"), True, None, None, None),
        # the kernel as client
        (Context(State.SYN_SENT, snd_nxt=1001), seg("SA", seq=50, ack=999), False, "R", 999, None),
        (Context(State.SYN_SENT, snd_nxt=1001), seg("SA", seq=50, ack=1001), False, "A", 1001, 51),
        (Context(State.SYN_SENT, snd_nxt=1001), seg("S", seq=50), False, "SA", 1000, 51),
        (Context(State.SYN_SENT, snd_nxt=1001), seg("A", ack=3), False, "R", 3, None),
        # a request sock
        (Context(State.SYN_RECEIVED, snd_nxt=2001), seg("A", ack=2001), True, None, None, None),
        (Context(State.SYN_RECEIVED, snd_nxt=2001), seg("A", ack=2005), False, "R", 2005, None),
        (
            Context(State.SYN_RECEIVED, snd_nxt=2001),
            seg("PA", seq=7, ack=2001, payload=b"hello"),
            False,
            "A",
            2001,
            12,
        ),
        # synchronized: challenge ACKs and RSTs (RFC 5961)
        (ESTABLISHED, seg("S", seq=1), False, "A", 5000, 9000),
        (ESTABLISHED, seg("R", seq=9000), True, None, None, None),
        (ESTABLISHED, seg("R", seq=9001), False, "A", 5000, 9000),
        (ESTABLISHED, seg("R", seq=20000), True, None, None, None),
        (ESTABLISHED, seg("F", seq=9000), True, None, None, None),
        # Linux: after the peer's FIN, a RST at rcv_nxt - 1 resets too
        (
            Context(State.CLOSE_WAIT, snd_nxt=5000, rcv_nxt=9001, rcv_wnd=1000),
            seg("R", seq=9000),
            True,
            None,
            None,
            None,
        ),
    ],
)
def test_expected_answer(ctx, segment, silence, flags, seq, ack):
    exp = expect_answer(ctx, segment)
    assert exp.predicted
    assert exp.silence is silence
    assert exp.source
    if not silence:
        assert exp.flags == letters(flags)
        assert exp.seq == seq
        assert exp.ack == ack


def test_syn_fin_at_a_listener_says_where_linux_departs_from_the_rfc():
    exp = expect_answer(Context(State.LISTEN), seg("SF"))
    assert "RFC 9293" in exp.linux_note


def test_challenge_ack_mentions_linux_rate_limit():
    assert "rate-limits" in expect_answer(ESTABLISHED, seg("S")).linux_note


def test_rst_without_known_window_is_not_predicted():
    exp = expect_answer(Context(State.ESTABLISHED), seg("R"))
    assert not exp.predicted
    exp = expect_answer(Context(State.ESTABLISHED, snd_nxt=1, rcv_nxt=9000), seg("R", seq=9001))
    assert not exp.predicted  # rcv_nxt known, but not the window


def test_ack_at_a_request_sock_with_unknown_isn_is_not_predicted():
    exp = expect_answer(Context(State.SYN_RECEIVED), seg("A", ack=12345))
    assert not exp.predicted and "not predicted" in exp.why


@pytest.mark.parametrize(
    ("flags", "kind"),
    [
        ("S", Input.SYN),
        ("SA", Input.SYN_ACK),
        ("SF", Input.SYN_FIN),
        ("RA", Input.RST),
        ("SR", Input.RST),
        ("A", Input.ACK),
        ("FA", Input.ACK),
        ("PA", Input.ACK),
        ("F", Input.NO_ACK),
        ("", Input.NO_ACK),
        ("U", Input.NO_ACK),
    ],
)
def test_classify(flags, kind):
    assert classify(seg(flags)) is kind


flag_sets = st.sets(st.sampled_from("FSRPAUEC")).map(lambda s: "".join(s))
states = st.one_of(st.none(), st.sampled_from(list(State)))
u32 = st.integers(min_value=0, max_value=MOD - 1)
maybe_u32 = st.one_of(st.none(), u32)


@given(states, flag_sets, u32, u32, maybe_u32, maybe_u32, st.binary(max_size=20))
def test_every_state_and_segment_gets_an_answer_or_an_explicit_no_prediction(
    state, flags, seq, ack, snd_nxt, rcv_nxt, payload
):
    ctx = Context(state, snd_nxt=snd_nxt, rcv_nxt=rcv_nxt, rcv_wnd=65535)
    exp = expect_answer(ctx, Segment(1, 2, letters(flags), seq=seq, ack=ack, payload=payload))
    assert exp.why
    if exp.predicted:
        assert exp.source
        assert exp.silence or exp.flags
        assert (ctx.situation, classify(Segment(1, 2, letters(flags)))) in ANSWERS
    if "R" in flags:
        assert (
            exp.silence or exp.flags == Flags.ACK or not exp.predicted
        )  # a RST is never answered by RST


def test_situations_cover_every_state():
    assert {Context(s).situation for s in State} | {Context(None).situation} == set(Situation)
