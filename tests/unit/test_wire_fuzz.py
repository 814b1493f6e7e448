"""Whatever bytes a student sends, the grader reads them as Linux does and never raises: each
malformation is shown for what it is, a malformed segment is still the student's, and who sent a
segment comes from where it was captured, not from its IP source (tcplab.wire.decode,
tcplab.engine.intake). The bench with 100 000 frames is bench/fuzz_bench.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcplab.engine.intake import Intake, parse
from tcplab.exercise.catalog import get
from tcplab.exercise.checker import result_of
from tcplab.exercise.recording import Recording
from tcplab.model.flags import Flags
from tcplab.model.segment import Option
from tcplab.wire.capture import Frame
from tcplab.wire.decode import Decoder
from tests.labcases import recorded
from tests.wireframes import (
    CRAFTING,
    CRAFTING_MAC,
    KERNEL,
    KERNEL_MAC,
    crafted,
    frames,
    ip_frame,
    tcp_bytes,
    whole_path,
)

SYN = tcp_bytes(flags=0x02)


def decode(frame: bytes):  # the decoder without its safety net: a bug must show here
    return Decoder()._decode(frame)


# ---- each malformation: what is shown, and whether Linux's TCP gets the segment --------------

MALFORMED = {
    "mss-length-2": (ip_frame(tcp_bytes(options=b"\x02\x02")), "MSS option of length 2", True),
    "mss-length-0": (
        ip_frame(tcp_bytes(options=b"\x02\x00\x02\x04\x05\xb4")),
        "MSS option of length 0 (Linux reads no further options)",
        True,
    ),
    "mss-length-3": (
        ip_frame(tcp_bytes(options=b"\x02\x03\x05\x01")),
        "MSS option of length 3",
        True,
    ),
    "ts-cut-short": (
        ip_frame(tcp_bytes(options=b"\x08\x0a\x00\x00")),
        "timestamps option of length 10 cut short at 4 bytes",
        True,
    ),
    "sack-length-3": (
        ip_frame(tcp_bytes(options=b"\x05\x03\x00\x00")),
        "SACK option of length 3",
        True,
    ),
    "ns-flag": (ip_frame(tcp_bytes(high=0x01)), "NS flag set (Linux ignores it)", True),
    "reserved-bits": (
        ip_frame(tcp_bytes(high=0x0E)),
        "reserved header bits set (Linux ignores them)",
        True,
    ),
    "ip-fragment-mf": (
        ip_frame(SYN, frag=0x2000),
        "IP fragment (the kernel waits for the rest)",
        False,
    ),
    "ip-options": (ip_frame(SYN, ip_options=b"\x01\x01\x01\x00"), "IP options (4 bytes)", True),
    "ip-source-route": (
        ip_frame(SYN, ip_options=b"\x83\x07\x04" + bytes(4) + b"\x00"),
        "IP source route option: Linux drops the packet",
        False,
    ),
    "ip-option-bad-length": (
        ip_frame(SYN, ip_options=b"\x44\x09\x00\x00"),
        "IP option 68 of length 9: Linux drops the packet",
        False,
    ),
    "data-offset-beyond": (
        ip_frame(tcp_bytes(doff=15)),
        "data offset 60 bytes, beyond the segment's 20",
        False,
    ),
    "data-offset-below": (
        ip_frame(tcp_bytes(doff=2)),
        "data offset 8 bytes, below a TCP header's 20",
        False,
    ),
    "tcp-header-cut": (ip_frame(SYN[:12]), "TCP header cut short: 12 of 20 bytes", False),
    "ip-length-beyond": (ip_frame(SYN, total=200), "IP total length 200, but 40 bytes came", False),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_segment_says_what_is_wrong_and_whether_linux_takes_it(name: str) -> None:
    frame, text, delivered = MALFORMED[name]
    got = decode(frame)
    assert got is not None
    assert text in got.malformed
    assert got.delivered is delivered
    assert (got.segment.sport, got.segment.dport) == (40000, 7788)


def test_a_bad_ip_header_checksum_is_dropped_by_linux() -> None:
    frame = bytearray(ip_frame(SYN))
    frame[14 + 10] ^= 0x01
    got = decode(bytes(frame))
    assert got is not None and "bad IP header checksum" in got.malformed and not got.delivered


def test_linux_skips_a_malformed_option_and_keeps_the_good_ones_before_it() -> None:
    got = decode(ip_frame(tcp_bytes(options=b"\x02\x04\x05\xb4\x03\x02\x01\x01\x02\x00")))
    assert got is not None
    assert got.segment.options == (Option("mss", 1460), Option("nop"), Option("nop"))
    assert got.malformed == (
        "window scale option of length 2",
        "MSS option of length 0 (Linux reads no further options)",
    )


def test_a_well_formed_segment_has_nothing_to_show() -> None:
    got = decode(
        ip_frame(
            tcp_bytes(options=b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + bytes(8) + b"\x01\x03\x03\x07")
        )
    )
    assert got is not None and got.malformed == () and got.delivered and got.checksum_ok
    assert [o.kind for o in got.segment.options] == ["mss", "sackOK", "TS", "nop", "wscale"]


# ---- fragments: reassembled as the kernel does ---------------------------------------------


def fragments(body: bytes, size: int, ident: int = 7) -> list[bytes]:
    out = []
    for at in range(0, len(body), size):
        more = 0x2000 if at + size < len(body) else 0
        out.append(ip_frame(body[at : at + size], ident=ident, frag=more | at // 8))
    return out


def test_a_fragmented_syn_is_reassembled_into_one_delivered_segment() -> None:
    dec = Decoder()
    got = [dec._decode(f) for f in fragments(tcp_bytes(options=b"\x02\x04\x05\xb4"), 8)]
    assert got[:-1] == [None, None]  # the first holds no whole TCP header
    last = got[-1]
    assert last is not None and last.delivered and last.checksum_ok
    assert last.segment.flags == Flags.SYN and last.segment.options == (Option("mss", 1460),)
    assert last.malformed == ("reassembled from 3 IP fragments",)


def test_fragments_in_any_order_are_reassembled_and_overlapping_ones_are_not() -> None:
    parts = fragments(tcp_bytes(payload=b"x" * 24), 16)
    dec = Decoder()
    got = [dec._decode(f) for f in reversed(parts)]
    assert got[-1] is not None and got[-1].segment.payload == b"x" * 24
    overlap = ip_frame(b"y" * 8, ident=7, frag=0x2000 | 1)
    dec = Decoder()
    assert [dec._decode(f) for f in [parts[0], overlap, parts[1]]][-1] is None


def test_a_first_fragment_alone_is_the_students_but_not_delivered() -> None:
    got = decode(fragments(tcp_bytes(payload=b"x" * 24), 32)[0])
    assert got is not None and not got.delivered and got.segment.flags == Flags.SYN


# ---- fuzzing: no frame makes any parser raise ----------------------------------------------


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_no_frame_makes_the_decoder_raise(frame: bytes) -> None:
    got = decode(frame)
    if got is not None:
        assert got.delivered or got.malformed or not got.checksum_ok or frame[14 + 6] & 0x3F


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=14, max_size=120), max_size=6))
def test_no_run_of_raw_bytes_makes_the_decoder_raise(raw: list[bytes]) -> None:
    dec = Decoder()
    for data in raw:
        dec._decode(bytes.fromhex("02746c00000202746c0000010800") + data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(frames(), st.booleans()), min_size=1, max_size=8))
def test_no_frames_make_grading_raise_from_capture_to_report(
    got: list[tuple[bytes, bool]],
) -> None:
    data = whole_path([Frame(f, 1.0 + i / 1000, out) for i, (f, out) in enumerate(got)])
    assert {c["ok"] for c in data["checks"]} <= {True, False}


# ---- a malformed segment is the student's; a correct handshake after it gets full marks -----


def reference(lab: str = "handshake") -> Recording:
    return Recording.load(recorded(lab, "reference"))


def rescored(rec: Recording, extra: list[Frame]) -> dict:
    data = rec.to_json()
    data["frames"] = [
        {"time": f.time, "outgoing": f.outgoing, "seen": 0, "data": f.data.hex()} for f in extra
    ] + data["frames"]
    again = Recording.from_json(data)
    return result_of(get(again.lab), Path("handshake.py"), again).to_json()


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_segment_then_a_correct_handshake_gets_full_marks(name: str) -> None:
    rec = reference()
    t0 = rec.frames[0].time - 0.05
    assert rec.kernel_addr == KERNEL
    result = rescored(rec, [crafted(MALFORMED[name][0], t0)])
    assert result["full_marks"], [c for c in result["checks"] if not c["ok"]]
    shown = [r for r in result["ladder"]["ladder"] if r.get("malformed")]
    assert shown and shown[0]["from"] == "crafting"


# ---- who sent it: from where it was captured -----------------------------------------------


def test_direction_comes_from_the_capture_not_the_ip_source() -> None:
    synack = ip_frame(tcp_bytes(flags=0x12, sport=7788, dport=40000, src=KERNEL, dst=CRAFTING),
                      src=KERNEL, dst=CRAFTING, macs=(CRAFTING_MAC, KERNEL_MAC))  # fmt: skip
    intake = Intake(KERNEL)
    real = intake.seen(Frame(synack, 1.0, True))
    forged = intake.seen(Frame(synack, 1.0, False))
    assert real is not None and real.from_kernel and not real.forged and real.delivered
    assert forged is not None and not forged.from_kernel and forged.forged and not forged.delivered
    assert forged.key == real.key == (40000, 7788)
    assert "forged as the kernel's" in forged.marks()


def test_recordings_read_direction_from_outgoing() -> None:
    for lab in ("handshake", "active-close", "rst"):
        rec = reference(lab)
        assert [s.from_kernel for s in rec.seen] == [
            f.outgoing for f in rec.frames if Decoder().decode(f.data) is not None
        ]
        assert not any(s.forged for s in rec.seen)


def test_a_forged_kernel_synack_gets_no_credit_and_is_shown_forged() -> None:
    """The recorded reference, with the kernel's SYN+ACK turned into one the student sent (the
    same bytes, captured coming in): no check may count it as the kernel's."""
    rec = reference()
    data = rec.to_json()
    for f in data["frames"]:
        if f["outgoing"]:
            f["outgoing"] = False
    again = Recording.from_json(data)
    result = result_of(get("handshake"), Path("handshake.py"), again).to_json()
    assert not result["full_marks"]
    rows = [r for r in result["ladder"]["ladder"] if r.get("forged")]
    assert rows and all(r["from"] == "crafting" for r in rows)
    assert not any(s.from_kernel for s in again.seen)


def test_parse_of_frames_is_what_the_live_session_reads() -> None:
    rec = reference()
    assert parse(rec.frames, rec.kernel_addr) == rec.seen
    assert json.dumps(rec.to_json())


LABS = sorted(p.parent.name for p in Path(get("handshake").dir).parent.glob("*/lab.toml"))


@pytest.mark.parametrize("lab", LABS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(got=st.lists(st.tuples(frames(), st.booleans()), min_size=1, max_size=8))
def test_no_frames_make_any_labs_checks_raise(lab: str, got: list[tuple[bytes, bool]]) -> None:
    data = whole_path([Frame(f, 1.0 + i / 1000, out) for i, (f, out) in enumerate(got)], lab, False)
    assert data["max_score"] > 0


def test_a_syn_the_kernel_never_got_is_shown_and_costs_nothing() -> None:
    """A lone first fragment of a SYN (the kernel waits for the rest), sent before the real SYN
    on the same port with another ISN, is shown as not delivered: full marks still."""
    rec = reference()
    syn = next(s for s in rec.seen if not s.from_kernel and s.segment.flags == Flags.SYN)
    seg = syn.segment
    body = tcp_bytes(
        flags=0x02, seq=seg.seq + 5000, sport=seg.sport, dport=seg.dport, payload=b"x" * 8
    )
    early = crafted(ip_frame(body, frag=0x2000), rec.frames[0].time - 0.05)
    result = rescored(rec, [early])
    assert result["full_marks"], [c for c in result["checks"] if not c["ok"]]
    rows = [r for r in result["ladder"]["ladder"] if r.get("delivered") is False]
    assert rows and rows[0]["seq"] == seg.seq + 5000


RECORDED = [
    (lab, p.stem) for lab in LABS for p in sorted(recorded(lab, "reference").parent.glob("*.json"))
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(RECORDED),
    changes=st.lists(
        st.tuples(st.integers(0, 1 << 16), st.integers(34, 120), st.integers(0, 255)), max_size=4
    ),
    extra=st.lists(frames(), max_size=2),
)
def test_no_change_to_a_recorded_run_makes_grading_raise(
    which: tuple[str, str], changes: list[tuple[int, int, int]], extra: list[bytes]
) -> None:
    """Real runs of every lab (with their application calls, so the model sends, closes and
    times out), with bytes of their crafted frames changed and random frames added."""
    from tests.wireframes import judged

    rec = Recording.load(recorded(*which))
    crafted_at = [i for i, f in enumerate(rec.frames) if not f.outgoing]
    for pick, at, value in changes:
        if crafted_at:
            i = crafted_at[pick % len(crafted_at)]
            data = bytearray(rec.frames[i].data)
            if at < len(data):
                data[at] = value
            rec.frames[i] = Frame(bytes(data), rec.frames[i].time, False)
    t = rec.frames[0].time if rec.frames else 1.0
    rec.frames += [crafted(f, t + 0.001 * n) for n, f in enumerate(extra)]
    rec.frames.sort(key=lambda f: f.time)
    rec.seen = []
    judged(rec, render=False)
