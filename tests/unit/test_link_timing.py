"""Checksums, the link and timing in a scenario file (no root): each key read into its step or the
scenario's Link, and each wrong value refused with file:line; a crafted frame with a bad checksum
never verifies; a partial checksum (tx offload on) is told from a valid and a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tcplab.engine.scenario import ExpectStep, Link, SendStep, StateStep, load
from tcplab.errors import DefinitionError
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.wire.packet import Endpoints, parse_frame, partial_checksum, to_frame

ENDS = Endpoints("10.77.0.1", "10.77.0.2", "02:74:6c:00:00:01", "02:74:6c:00:00:02")


def scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text('[scenario]\ntitle = "t"\n' + text)
    return path


def test_link_keys_and_step_keys_are_read(tmp_path):
    sc = load(
        scenario(
            tmp_path,
            'offloads = true\nmtu = 1280\ndrop = ["data", "data 3"]\n'
            '[[step]]\nsend = "S 0:0(0)"\nchecksum = "bad"\n'
            '[[step]]\nexpect = "R. 0:0(0) ack 1"\ndelay = [0, 0.1]\nfrom = "line 7"\n'
            'checksum = "valid"\n'
            '[[step]]\nexpect = "R. 0:0(0) ack 1"\ndelay = [0, 5]\nfrom = "start"\n'
            '[[step]]\nexpect_state = "ESTABLISHED"\nretrans = 1\n',
        )
    )
    assert sc.link == Link(True, 1280, (("data", 1), ("data", 3)))
    send, expect, since_start, state = sc.steps
    assert isinstance(send, SendStep) and send.bad_checksum and send.line == 7
    assert isinstance(expect, ExpectStep) and (expect.since, expect.checksum) == (7, "valid")
    assert isinstance(since_start, ExpectStep) and since_start.since == 0
    assert isinstance(state, StateStep) and state.retrans == 1


def test_the_default_link_is_offloads_off_and_nothing_dropped(tmp_path):
    sc = load(scenario(tmp_path, '[[step]]\nsend = "S 0:0(0)"\n'))
    assert sc.link == Link() and not sc.link.offloads and sc.link.mtu is None
    assert not sc.steps[0].bad_checksum  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ('offloads = "yes"\n[[step]]\nsend = "S 0:0(0)"\n', 3, "offloads"),
        ('mtu = 100\n[[step]]\nsend = "S 0:0(0)"\n', 3, "mtu = 100"),
        ('drop = ["fin"]\n[[step]]\nsend = "S 0:0(0)"\n', 3, "cannot drop 'fin'"),
        ('drop = "data"\n[[step]]\nsend = "S 0:0(0)"\n', 3, "drop must be a list"),
        ('[[step]]\nsend = "S 0:0(0)"\nchecksum = "partial"\n', 5, "send checksum = 'partial'"),
        ('[[step]]\nexpect = "S. 0:0(0)"\nchecksum = "bad"\n', 5, "expect checksum = 'bad'"),
        ('[[step]]\nexpect = "S. 0:0(0)"\nfrom = "start"\n', 5, "from without delay"),
        (
            '[[step]]\nexpect = "S. 0:0(0)"\ndelay = [0, 1]\nfrom = "line 99"\n',
            6,
            "names no earlier",
        ),
        ('[[step]]\nexpect = "S. 0:0(0)"\ndelay = [0, 1]\nfrom = "step 2"\n', 6, "from = 'step 2'"),
        ('[[step]]\nexpect_state = "CLOSED"\nretrans = 0\n', 4, "no timer or queues"),
        ('[[step]]\nexpect_state = "LISTEN"\nretrans = -1\n', 5, "retrans = -1"),
    ],
)
def test_bad_link_and_timing_keys_are_refused_with_file_and_line(tmp_path, text, line, phrase):
    path = scenario(tmp_path, text)
    with pytest.raises(DefinitionError) as err:
        load(path)
    assert f"{path}:{line}:" in str(err.value) and phrase in str(err.value)
    assert err.value.hint


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(0, (1 << 32) - 1),
    flags=st.sampled_from(["S", "SA", "A", "PA", "FA", "R"]),
    payload=st.binary(max_size=40),
)
@example(seq=188241319, flags="FA", payload=b"p")  # the lowest bit flipped gives the partial sum
@example(seq=2683519210, flags="SA", payload=b"\xf0")
def test_a_bad_checksum_never_verifies_and_changes_nothing_else(seq, flags, payload):
    seg = Segment(40000, 7788, Flags.from_letters(flags), seq=seq, payload=payload)
    good, bad = to_frame(seg, ENDS), to_frame(seg, ENDS, bad_checksum=True)
    assert len(good) == len(bad) and sum(a != b for a, b in zip(good, bad, strict=True)) == 1
    parsed_good, parsed_bad = parse_frame(good), parse_frame(bad)
    assert parsed_good is not None and parsed_bad is not None
    assert parsed_good[3] and not parsed_bad[3]
    assert parsed_bad[2] == seg and not partial_checksum(bad)


def test_a_partial_checksum_is_the_pseudo_headers_sum():
    seg = Segment(7788, 40000, Flags.from_letters("SA"), seq=5, ack=6, window=64240)
    frame = bytearray(to_frame(seg, ENDS))
    at = 14 + 20 + 16
    src, dst, length = frame[26:30], frame[30:34], len(frame) - 34
    words = [int.from_bytes(b, "big") for b in (src[:2], src[2:], dst[:2], dst[2:])]
    total = sum(words) + 6 + length
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    frame[at : at + 2] = total.to_bytes(2, "big")  # what Linux leaves for the device
    assert partial_checksum(bytes(frame))
    assert not partial_checksum(to_frame(seg, ENDS))
    parsed = parse_frame(bytes(frame))
    assert parsed is not None and not parsed[3]


def test_from_names_the_label_of_an_earlier_step(tmp_path):
    sc = load(
        scenario(
            tmp_path,
            '[[step]]\nsend = "S 0:0(0)"\nlabel = "syn"\n'
            '[[step]]\nexpect = "R. 0:0(0) ack 1"\ndelay = [0, 0.1]\nfrom = "syn"\n',
        )
    )
    send, expect = sc.steps
    assert isinstance(expect, ExpectStep) and expect.since == send.line and not expect.since_label


def test_from_a_label_no_earlier_step_has_is_refused_with_its_line(tmp_path):
    with pytest.raises(DefinitionError) as err:
        load(
            scenario(
                tmp_path,
                '[[step]]\nexpect = "R. 0:0(0) ack 1"\ndelay = [0, 0.1]\nfrom = "later"\n'
                '[[step]]\nsend = "S 0:0(0)"\nlabel = "later"\n',
            )
        )
    assert ":6: from = 'later' names no earlier step's label" in str(err.value)
