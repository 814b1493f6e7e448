"""Segments to frames and back through scapy (no root needed)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment
from tcplab.wire.capture import tcp_between
from tcplab.wire.packet import Endpoints, parse_frame, to_frame, to_packet

ENDS = Endpoints("10.77.0.1", "10.77.0.2", "02:74:6c:00:00:01", "02:74:6c:00:00:02")
to_frame(
    Segment(1, 2, Flags.SYN), ENDS
)  # scapy loads at the first frame: here, not in a timed example

u32 = st.integers(0, (1 << 32) - 1)
u16 = st.integers(0, 65535)
options = st.lists(
    st.one_of(
        st.builds(lambda v: Option("mss", v), u16),
        st.builds(lambda v: Option("wscale", v), st.integers(0, 14)),
        st.just(Option("sackOK")),
        st.just(Option("nop")),
        st.builds(lambda a, b: Option("TS", (a, b)), u32, u32),
    ),
    max_size=4,
)
segments = st.builds(
    Segment,
    sport=st.integers(1, 65535),
    dport=st.integers(1, 65535),
    flags=st.integers(0, 0xFF).map(Flags),
    seq=u32,
    ack=u32,
    window=u16,
    options=options.map(tuple),
    payload=st.binary(max_size=64),
    urgptr=u16,
)


@settings(max_examples=200)
@given(segments)
def test_segment_survives_a_round_trip_through_a_frame(seg):
    src, dst, back, checksum_ok = parse_frame(to_frame(seg, ENDS))
    assert (src, dst) == (ENDS.src, ENDS.dst)
    assert checksum_ok
    assert back == seg


@pytest.mark.parametrize("bits", range(256))
def test_scapy_shows_the_same_letters_for_every_combination_of_flags(bits):
    from scapy.layers.inet import TCP

    flags = Flags(bits)
    assert str(to_packet(Segment(1, 2, flags), ENDS)[TCP].flags) == flags.letters


def test_a_segment_with_the_ns_bit_is_read_without_it():
    """The NS bit (RFC 3540, since reclaimed) is not one of the eight flags: Linux ignores it, and
    so does the segment tcplab reads (tcplab.wire.decode marks it)."""
    frame = bytearray(to_frame(Segment(40000, 7788, Flags.SYN, seq=1), ENDS))
    frame[46] |= 0x01  # the low bit of the data offset byte: NS
    parsed = parse_frame(bytes(frame))
    assert parsed is not None and parsed[2] == Segment(40000, 7788, Flags.SYN, seq=1)


def test_a_corrupted_frame_is_flagged_by_its_checksum():
    frame = bytearray(to_frame(Segment(1, 2, Flags.SYN, seq=5, payload=b"x"), ENDS))
    frame[-1] ^= 0xFF
    assert parse_frame(bytes(frame))[3] is False


def test_non_tcp_frames_are_not_segments():
    frame = bytearray(to_frame(Segment(1, 2, Flags.SYN), ENDS))
    frame[23] = 17  # UDP
    assert parse_frame(bytes(frame)) is None
    assert parse_frame(b"\x00" * 10) is None


def test_bpf_program_jumps_stay_inside_the_program():
    prog = tcp_between("10.77.0.1", "10.77.0.2")
    for i, (code, jt, jf, _k) in enumerate(prog):
        if code == 0x15:
            assert i + 1 + jt < len(prog) and i + 1 + jf < len(prog)
    assert prog[-1] == (0x06, 0, 0, 0) and prog[-2][0] == 0x06


# ---- frames a student crafts: malformed ones never stop an observation -----------------------


def _frame_with_options(raw_options: bytes) -> bytes:
    ends = Endpoints("10.77.0.1", "10.77.0.2", "02:74:6c:00:00:01", "02:74:6c:00:00:02")
    frame = bytearray(to_frame(Segment(40000, 7788, Flags.SYN, seq=1), ends))
    padded = raw_options + b"\x00" * (-len(raw_options) % 4)
    frame[46] = (5 + len(padded) // 4) << 4  # the TCP data offset
    frame[16:18] = (20 + 20 + len(padded)).to_bytes(2, "big")  # the IP total length
    return bytes(frame[:54]) + padded


@pytest.mark.parametrize(
    "options",
    [b"\x02\x03\x05\x01", b"\x08\x03\x00\x00", b"\x03\x02\x00\x00", b"\x05\x03\x00\x00"],
    ids=["mss-length-3", "ts-length-3", "wscale-length-2", "sack-length-3"],
)
def test_a_malformed_option_is_skipped_and_the_segment_still_counts(options: bytes) -> None:
    parsed = parse_frame(_frame_with_options(options))
    assert parsed is not None
    _src, _dst, seg, _ok = parsed
    assert (seg.sport, seg.dport, seg.flags, seg.seq) == (40000, 7788, Flags.SYN, 1)


@settings(max_examples=2000, deadline=None)
@given(ip=st.binary(min_size=20, max_size=20), tcp=st.binary(max_size=80))
def test_no_frame_makes_the_parser_raise(ip: bytes, tcp: bytes) -> None:
    header = bytearray(ip)
    header[9] = 6  # TCP, so the parser goes all the way in
    frame = bytes.fromhex("02746c00000202746c0000010800") + bytes(header) + tcp
    result = parse_frame(frame)
    assert result is None or isinstance(result[2], Segment)
