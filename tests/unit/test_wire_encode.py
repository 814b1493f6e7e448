"""The frame packed without scapy is byte for byte the one scapy builds (no root needed)."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment, check_fits
from tcplab.wire.packet import Endpoints, encode, to_frame, to_packet

ENDS = Endpoints("10.77.0.1", "10.77.0.2", "02:74:6c:00:00:01", "02:74:6c:00:00:02")

u32 = st.integers(0, (1 << 32) - 1)
u16 = st.integers(0, 65535)
one_option = st.one_of(
    st.builds(lambda v: Option("mss", v), u16),
    st.builds(lambda v: Option("wscale", v), st.integers(0, 255)),
    st.just(Option("sackOK")),
    st.just(Option("nop")),
    st.just(Option("eol")),
    st.builds(lambda a, b: Option("TS", (a, b)), u32, u32),
    st.builds(
        lambda bs: Option("sack", tuple(bs)), st.lists(st.tuples(u32, u32), min_size=1, max_size=4)
    ),
)


def _fits(options: tuple[Option, ...]) -> bool:
    try:
        check_fits(options, b"")
    except ValueError:
        return False
    return True


segments = st.builds(
    Segment,
    sport=u16,
    dport=u16,
    flags=st.integers(0, 0xFF).map(Flags),
    seq=u32,
    ack=u32,
    window=u16,
    options=st.lists(one_option, max_size=6).map(tuple).filter(_fits),
    payload=st.binary(max_size=80),
    urgptr=u16,
)


@settings(max_examples=500)
@given(segments, st.integers(0, 65535), st.integers(1, 255))
def test_a_frame_is_the_one_scapy_builds(seg, ip_id, ttl):
    assert encode(seg, ENDS, ip_id, ttl) == bytes(to_packet(seg, ENDS, ip_id, ttl))


@settings(max_examples=200)
@given(segments, st.integers(0, 65535))
def test_a_frame_with_a_bad_checksum_differs_from_scapys_only_there(seg, ip_id):
    good, bad = bytes(to_packet(seg, ENDS, ip_id)), to_frame(seg, ENDS, ip_id, bad_checksum=True)
    at = 14 + 20 + 16
    assert len(bad) == len(good) and bad[:at] == good[:at] and bad[at + 2 :] == good[at + 2 :]
    assert bad[at : at + 2] != good[at : at + 2]


@pytest.mark.parametrize(
    "seg",
    [
        Segment(1, 2, Flags.SYN, window=65536),
        Segment(1, 2, Flags.SYN, seq=1 << 32),
        Segment(0x10000, 2, Flags.SYN),
        Segment(1, 2, Flags.SYN, options=(Option("mss", 0x10000),)),
    ],
)
def test_a_field_too_big_for_its_bits_fails_as_in_scapy(seg):
    with pytest.raises((ValueError, struct.error)):
        bytes(to_packet(seg, ENDS))
    with pytest.raises(ValueError):
        encode(seg, ENDS)
