"""Numbers the kernel chose (issue 11): TS ecr that echoes the kernel's TS val, TS vals relative to
the kernel's first, SACK blocks relative to the ack's ISN in send, expect and every printout, and
packetdrill's '-' for no flags. Pure: patterns, checks and reports from model segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcplab.engine.check import match_pattern
from tcplab.engine.report import Report
from tcplab.engine.scenario import load
from tcplab.engine.seen import Seen
from tcplab.errors import DefinitionError
from tcplab.model.endpoint import Endpoint, classify
from tcplab.model.flags import Flags
from tcplab.model.notation import Bases, KernelTs, format_segment, parse_pattern, to_options
from tcplab.model.segment import Option, Segment, parse_options
from tcplab.model.table import Input, Place

A = Flags.ACK
OURS, THEIRS = 1_000_000, 3_000_000_000  # the crafting side's ISN, the kernel's


@pytest.mark.parametrize("text", ["- 1:1(0)", "none 1:1(0)"])
@pytest.mark.parametrize("wild_ok", [True, False])
def test_no_flags_is_dash_or_none(text, wild_ok):
    assert parse_pattern(text, wild_ok).flags == Flags(0)


def test_ecr_echo_sends_the_kernels_latest_ts_val():
    pat = parse_pattern(". 1:1(0) ack 1 <nop,nop,TS val 101 ecr echo>", wild_ok=False)
    opts = to_options(pat.options or (), Bases(ts_first=5000, ts_last=5042))
    assert opts[-1] == Option("TS", (101, 5042))


def test_relative_ts_in_a_segment_to_send_counts_from_the_kernels_first_ts_val():
    pat = parse_pattern(". 1:1(0) ack 1 <nop,nop,TS val 7 ecr -1>", wild_ok=False)
    assert to_options(pat.options or (), Bases(ts_first=0))[-1] == Option("TS", (7, (1 << 32) - 1))


def test_echo_before_the_kernel_sent_a_ts_val_is_refused():
    pat = parse_pattern(". 1:1(0) ack 1 <TS val 1 ecr echo>", wild_ok=False)
    with pytest.raises(ValueError, match="the kernel has sent none"):
        to_options(pat.options or (), Bases())


@pytest.mark.parametrize(
    ("text", "wild_ok", "phrase"),
    [
        ("TS val 1 ecr echo", True, "'echo' is for a segment to send"),
        ("TS val +0..+10 ecr 1", False, "is a range"),
        ("TS val +10..+0 ecr 1", True, "LO <= HI"),
        ("TS val 1", False, "bad timestamps option"),
        ("sack 1001-2001", True, "bad SACK block"),
        ("sack 1:2 3:4 5:6 7:8 9:10", True, "at most 4"),
        ("TS val 1 ecr 2,sack 1:2 3:4 5:6 7:8", False, "at most 40"),
        ("sack *:2", False, "needs a number"),
    ],
)
def test_bad_ts_and_sack_options_are_refused_with_the_fix(text, wild_ok, phrase):
    with pytest.raises(ValueError, match=phrase):
        parse_pattern(f". 1:1(0) ack 1 <{text}>", wild_ok)


def test_ts_val_range_matches_relative_to_the_kernels_first_ts_val():
    pat = parse_pattern(". 1:1(0) ack 6 <nop,nop,TS val +0..+1000 ecr 102>", wild_ok=True)
    assert pat.options is not None and pat.options[-1].values[0] == KernelTs(0, 1000)
    for val, ok in ((4_000_000_500, True), (4_000_001_001, False), (3_999_999_999, False)):
        seg = Segment(7788, 40000, A, seq=THEIRS + 1, ack=OURS + 6, options=_ts(val, 102))
        checks = match_pattern(pat, seg, "it", why="", seq_base=THEIRS, ack_base=OURS,
                               ts_first=4_000_000_000)  # fmt: skip
        assert all(c.ok for c in checks) is ok, [c for c in checks if not c.ok]


def test_a_wrong_ts_val_is_shown_relative_in_the_check():
    pat = parse_pattern(". 1:1(0) ack 6 <nop,nop,TS val +0..+100 ecr 102>", wild_ok=True)
    seg = Segment(7788, 40000, A, seq=THEIRS + 1, ack=OURS + 6, options=_ts(4_000_000_381, 102))
    (bad,) = [
        c
        for c in match_pattern(
            pat, seg, "it", why="", seq_base=THEIRS, ack_base=OURS, ts_first=4_000_000_000
        )
        if not c.ok
    ]
    assert bad.expected == "TS val +0..+100 ecr 102"
    assert "TS val 4000000381 (+381) ecr 102" in bad.observed


def test_sack_blocks_we_send_are_relative_to_the_kernels_isn():
    pat = parse_pattern(". 1101:1101(0) ack 6 <nop,nop,sack 1:6 11:21>", wild_ok=False)
    opts = to_options(pat.options or (), Bases(ack=THEIRS))
    assert opts[-1] == Option("sack", ((THEIRS + 1, THEIRS + 6), (THEIRS + 11, THEIRS + 21)))


def test_sack_blocks_we_expect_are_relative_to_our_isn_and_ordered():
    seg = _kernel_sack(((OURS + 2001, OURS + 2101), (OURS + 1001, OURS + 1101)))
    good = parse_pattern(". 1:1(0) ack 1 <nop,nop,sack 2001:2101 *:1101>", wild_ok=True)
    bad = parse_pattern(". 1:1(0) ack 1 <nop,nop,sack 1001:1101 2001:2101>", wild_ok=True)
    assert all(c.ok for c in match_pattern(good, seg, "it", why="", seq_base=THEIRS,
                                           ack_base=OURS))  # fmt: skip
    (wrong,) = [
        c for c in match_pattern(bad, seg, "it", why="", seq_base=THEIRS, ack_base=OURS) if not c.ok
    ]
    assert wrong.name == "options of it" and "sack 2001:2101 1001:1101" in wrong.observed


def test_sack_blocks_print_relative_as_the_ack_everywhere():
    seg = _kernel_sack(((OURS + 1001, OURS + 1101),))
    assert format_segment(seg, THEIRS, OURS).endswith("<nop,nop,sack 1001:1101>")
    assert "ack 1000001 (1)" in seg.notation(THEIRS, OURS)
    assert "sack 1001:1101" in seg.notation(THEIRS, OURS)
    report = Report("run t", "c", "k", conn_isns={(40000, 7788): (OURS, THEIRS)})
    out = report.segment_json(Seen(seg, "10.0.0.2", "10.0.0.1", 1.0, True, True))
    assert (out["rel_seq"], out["rel_ack"]) == (1, 1)
    assert out["options"][-1] == "sack 1001:1101" and "sack 1001:1101" in out["text"]


def test_a_sack_option_parses_and_round_trips():
    (opt,) = parse_options("sack 1001:1101 2001:2101")
    assert opt == Option("sack", ((1001, 1101), (2001, 2101)))
    assert opt.notation() == "sack 1001:1101 2001:2101"


def test_a_third_ack_echoing_a_ts_val_never_sent_is_out_of_window_for_a_request_sock():
    ep = Endpoint(place=Place.LISTEN, listener=True)
    syn = Segment(40000, 7788, Flags.SYN, seq=OURS, options=_ts(100, 0))
    ep.receive(syn, 0.0)
    ep.observe(
        Segment(7788, 40000, Flags.SYN | A, seq=THEIRS, ack=OURS + 1, options=_ts(9000, 100))
    )
    ack = Segment(40000, 7788, A, seq=OURS + 1, ack=THEIRS + 1, options=_ts(101, 9001))
    assert classify(ep, ack) is Input.ACK_OOW
    echo = Segment(40000, 7788, A, seq=OURS + 1, ack=THEIRS + 1, options=_ts(101, 9000))
    assert classify(ep, echo) is Input.ACK_PURE
    assert ep.receive(echo, 0.01).place is Place.ESTABLISHED


def test_a_scenario_with_a_ts_range_to_send_is_refused_with_its_line(tmp_path: Path):
    path = tmp_path / "t.toml"
    path.write_text(
        '[scenario]\ntitle = "t"\n\n[[step]]\nsend = ". 1:1(0) ack 1 <TS val +0..+9 ecr 1>"\n'
    )
    with pytest.raises(DefinitionError, match=r"t.toml:5: .*is a range"):
        load(path)


def _ts(val: int, ecr: int) -> tuple[Option, ...]:
    return (Option("nop"), Option("nop"), Option("TS", (val, ecr)))


def _kernel_sack(blocks: tuple[tuple[int, int], ...]) -> Segment:
    return Segment(
        7788, 40000, A, seq=THEIRS + 1, ack=OURS + 1, options=(Option("nop"), Option("nop"),
        Option("sack", blocks)))  # fmt: skip
