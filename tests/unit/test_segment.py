import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment, parse_options

letters = Flags.from_letters  # scapy's letters, '' for no flags


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        ("S", "S"),
        ("sa", "SA"),
        ("AS", "SA"),
        ("S.", "SA"),
        (".", "A"),
        ("FA", "FA"),
        ("PA", "PA"),
        ("SYN,ACK", "SA"),
        ("fin+ack", "FA"),
        ("R", "R"),
        ("RA", "RA"),
        ("U", "U"),
        ("FSRPAUEC", "FSRPAUEC"),
        ("W", "C"),
    ],
)
def test_flags_normalize_to_scapy_letters_in_canonical_order(text, flags):
    assert Flags.parse(text).letters == flags


@pytest.mark.parametrize("text", ["", "  ", "X", "SYNACK", "S-A", "Q"])
def test_bad_flags_say_which_letters_are_allowed(text):
    with pytest.raises(ValueError, match="FSRPAUEC|empty flags"):
        Flags.parse(text)


@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        ("S", "S"),
        ("SA", "S."),
        ("A", "."),
        ("PA", "P."),
        ("FA", "F."),
        ("R", "R"),
        ("RA", "R."),
        ("FPA", "FP."),
        ("", "none"),
    ],
)
def test_tcpdump_spelling(flags, shown):
    assert letters(flags).tcpdump == shown


def test_flag_names():
    assert letters("SA").names == "SYN+ACK"
    assert letters("").names == "no flags"


def test_options_parse_the_tcpdump_notation():
    opts = parse_options("<mss 1460,sackOK,TS val 7 ecr 0,nop,wscale 7>")
    assert opts == (
        Option("mss", 1460),
        Option("sackOK"),
        Option("TS", (7, 0)),
        Option("nop"),
        Option("wscale", 7),
    )
    assert ",".join(o.notation() for o in opts) == "mss 1460,sackOK,TS val 7 ecr 0,nop,wscale 7"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mss", "unknown TCP option"),
        ("mss 70000", "16 bits"),
        ("wscale 300", "8 bits"),
        ("TS val 1", "unknown TCP option"),
        ("TS val 5000000000 ecr 0", "32 bits"),
        ("md5", "unknown"),
    ],
)
def test_bad_options_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_options(text)


def test_sequence_space_counts_syn_fin_and_payload():
    assert Segment(1, 2, letters("S")).seg_len == 1
    assert Segment(1, 2, letters("FA"), payload=b"abc").seg_len == 4
    assert Segment(1, 2, letters("A")).seg_len == 0
    assert Segment(1, 2, letters("SF"), seq=(1 << 32) - 1).end_seq == 1


def test_notation_shows_absolute_and_relative_numbers():
    s = Segment(
        1, 2, letters("SA"), seq=1000, ack=5001, window=65160, options=(Option("mss", 1460),)
    )
    assert s.notation(1000, 5000) == "[S.] seq 1000 (0) ack 5001 (1) win 65160 <mss 1460> len 0"
    assert Segment(1, 2, letters("S"), seq=7).notation() == "[S] seq 7 win 64240 len 0"


@given(
    st.integers(0, 65535),
    st.integers(0, 14),
    st.integers(0, (1 << 32) - 1),
    st.integers(0, (1 << 32) - 1),
)
def test_option_notation_round_trips(mss, ws, val, ecr):
    opts = (
        Option("mss", mss),
        Option("sackOK"),
        Option("TS", (val, ecr)),
        Option("nop"),
        Option("wscale", ws),
    )
    assert parse_options(",".join(o.notation() for o in opts)) == opts


def test_options_length_is_padded_to_32_bits():
    from tcplab.model.segment import options_length

    assert options_length(parse_options("mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7")) == 20
    assert options_length(parse_options("wscale 7")) == 4
    assert options_length(()) == 0
