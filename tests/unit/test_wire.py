"""Segments to frames and back through scapy (no root needed)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tcplab.model.segment import Option, Segment
from tcplab.wire.capture import tcp_between
from tcplab.wire.packet import Endpoints, parse_frame, to_frame

ENDS = Endpoints("10.77.0.1", "10.77.0.2", "02:74:6c:00:00:01", "02:74:6c:00:00:02")

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
    flags=st.sets(st.sampled_from("FSRPAUEC")).map("".join),
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


def test_a_corrupted_frame_is_flagged_by_its_checksum():
    frame = bytearray(to_frame(Segment(1, 2, "S", seq=5, payload=b"x"), ENDS))
    frame[-1] ^= 0xFF
    assert parse_frame(bytes(frame))[3] is False


def test_non_tcp_frames_are_not_segments():
    frame = bytearray(to_frame(Segment(1, 2, "S"), ENDS))
    frame[23] = 17  # UDP
    assert parse_frame(bytes(frame)) is None
    assert parse_frame(b"\x00" * 10) is None


def test_bpf_program_jumps_stay_inside_the_program():
    prog = tcp_between("10.77.0.1", "10.77.0.2")
    for i, (code, jt, jf, _k) in enumerate(prog):
        if code == 0x15:
            assert i + 1 + jt < len(prog) and i + 1 + jf < len(prog)
    assert prog[-1] == (0x06, 0, 0, 0) and prog[-2][0] == 0x06
