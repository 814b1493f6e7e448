"""The terminal ladder (cli/lanes.py): two lanes, you | kernel, drawn from every lab's recorded runs
and from random segment lists; every line fits the width, every arrow of a multi-connection ladder
names its connection, numbers are relative (signed) or absolute on request."""

from __future__ import annotations

import io
import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from tcplab.cli.lanes import lines
from tcplab.cli.render import ladder
from tcplab.engine.ladder import build
from tcplab.engine.report import How, Report, SegmentRow, Side
from tcplab.engine.seen import Seen
from tcplab.exercise.catalog import get
from tcplab.exercise.evaluate import evaluate
from tcplab.exercise.recording import Recording
from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment
from tcplab.model.state import State
from tcplab.text import columns
from tests.labcases import FIXTURES

RECORDED = sorted(FIXTURES.glob("*/recorded/*.json"))


def _id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


@cache
def _report(path: Path) -> Report:
    return evaluate(get(path.parent.parent.name), Recording.load(path)).report


def drawn(report: Report, width: int, relative: bool = True) -> list[str]:
    """The ladder as `ladder` prints it on a console `width` columns wide."""
    con = Console(file=io.StringIO(), width=width, record=True, highlight=False, soft_wrap=True)
    ladder(report, show_checks=False, out=con, relative=relative)
    return con.export_text().splitlines()


def too_wide(text: list[str], width: int) -> list[str]:
    return [line for line in text if columns(line) > width]


@pytest.mark.parametrize("path", RECORDED, ids=_id)
@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_recorded_ladder_fits_the_width(path: Path, width: int) -> None:
    text = drawn(_report(path), width)
    assert too_wide(text, width) == []
    assert sum("▶" in line or "◀" in line for line in text) == _report(path).segment_count()


@pytest.mark.parametrize("path", RECORDED, ids=_id)
def test_every_arrow_of_a_multi_connection_ladder_names_its_connection(path: Path) -> None:
    report = _report(path)
    lad = build(report)
    text = drawn(report, 80)
    arrows = [line for line in text if "▶" in line or "◀" in line]
    if not lad.several:
        assert not any("⇄" in line for line in arrows)
        return
    labels = [c.label for c in lad.conns]
    assert all(any(label in line for label in labels) for line in arrows), arrows
    for step in lad.steps:  # a state change on a line of its own names its connection too
        if step.changes and step.arrow is None:
            assert step.conn in labels


def test_the_multi_connection_labs_have_several_connections() -> None:
    for lab in ("rst", "syn-backlog", "state-tour"):
        assert build(_report(FIXTURES / lab / "recorded" / "reference.json")).several


def test_a_handshake_ladder_draws_both_lanes_with_states_beside_their_arrows() -> None:
    text = drawn(_report(FIXTURES / "handshake" / "recorded" / "reference.json"), 80)
    assert "you 10.77.0.1" in text[0] and text[0].rstrip().endswith("kernel 10.77.0.2")
    assert text[1].strip().startswith("Linux ")
    assert text[2].split() == ["ms", "│", "│", "LISTEN"]  # the kernel's start
    assert text[3].split()[:7] == ["0.000", "CLOSED", "→", "│", "S", "seq", "+0"]
    assert "──▶ │" in text[3] and text[4].split() == ["SYN_SENT", "│", "│"]
    assert "◀──" in text[5] and "S. seq +0 ack +1" in text[5]
    # both sides' states beside the SYN+ACK, not after the ACK
    assert text[5].split()[1] == "ESTABLISHED" and text[5].split()[-1] == "SYN_RECEIVED"
    assert text[6].split()[-1] == "ESTABLISHED" and ". seq +1 ack +1" in text[6]


def test_relative_numbers_are_signed_and_absolute_ones_are_as_sent() -> None:
    report = _report(FIXTURES / "rst" / "recorded" / "reference.json")
    relative = "\n".join(drawn(report, 120))
    assert "ack -999" in relative and "seq +89000" in relative
    syn = next(r.seen.segment for r in report.rows if isinstance(r, SegmentRow))
    absolute = "\n".join(drawn(report, 120, relative=False))
    assert f"seq {syn.seq} " in absolute and "+0" not in absolute and "-999" not in absolute


def test_a_kernel_segment_shows_the_application_call_or_timer_that_caused_it() -> None:
    text = "\n".join(drawn(_report(FIXTURES / "time-wait" / "recorded" / "reference.json"), 80))
    assert "(app close() at +0.058 s)" in text
    assert "(your segment" not in text  # an answer's cause is the arrow just before it


def test_a_state_the_sampler_missed_is_shown_as_the_model_proves_it() -> None:
    text = drawn(_report(FIXTURES / "time-wait" / "recorded" / "reference.json"), 80)
    synack = next(line for line in text if "◀" in line and "S. seq +0 ack +1" in line)
    assert synack.split()[-1] == "SYN_RECEIVED*"
    assert any("proved by the capture" in line for line in text)


def test_a_long_segment_continues_inside_the_band_with_its_fields_whole() -> None:
    text = drawn(_report(FIXTURES / "rst" / "recorded" / "reference.json"), 80)
    at = next(i for i, line in enumerate(text) if "<mss 1460,sackOK," in line)
    end = next(i for i in range(at, len(text)) if "wscale 10>" in text[i])
    assert end > at and all(line.count("│") == 2 for line in text[at : end + 1])  # in the band
    assert any(re.search(r"TS val \d+ ecr 0", line) for line in text[at : end + 1])


@pytest.mark.parametrize("width", [40, 50])
def test_a_narrow_terminal_writes_the_states_inside_the_band(width: int) -> None:
    text = drawn(_report(FIXTURES / "handshake" / "recorded" / "reference.json"), width)
    assert too_wide(text, width) == []
    assert any(line.rstrip(" │").endswith("SYN_RECEIVED") for line in text)


def test_piped_with_no_width_the_ladder_is_80_columns() -> None:
    report = _report(FIXTURES / "rst" / "recorded" / "reference.json")
    text = drawn(report, 1 << 16)
    assert too_wide(text, 80) == [] and max(columns(line) for line in text) > 70


# ---- random exchanges ----

PORTS = st.sampled_from([(40000, 7788), (40001, 7788), (50000, 9)])
FLAGS = st.sampled_from(["S", "SA", "A", "PA", "FA", "R", "RA", "U", "FPU"])
OPTIONS = st.lists(
    st.sampled_from(
        [Option("mss", 1460), Option("nop"), Option("wscale", 14), Option("TS", (1, 0))]
    ),
    max_size=6,
)
TEXT = st.text(st.sampled_from("ab 中文ﾟ-→✓<>[]\x1b"), max_size=120)


@st.composite
def exchanges(draw: st.DrawFn) -> Report:
    report = Report("run x", draw(st.sampled_from(["ns1 10.77.0.1", ""])), "tlr0123456789k ::1")
    report.crafting_isn = draw(st.none() | st.integers(0, 2**32 - 1))
    for t in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 5))
        if kind <= 2:
            sport, kport = draw(PORTS)
            kernel = draw(st.booleans())
            seg = Segment(
                kport if kernel else sport,
                sport if kernel else kport,
                Flags.parse(draw(FLAGS)),
                seq=draw(st.integers(0, 2**32 - 1)),
                ack=draw(st.integers(0, 2**32 - 1)),
                window=draw(st.integers(0, 65535)),
                options=tuple(draw(OPTIONS)),
                payload=b"x" * draw(st.integers(0, 3000)),
            )
            src, dst = ("10.77.0.2", "10.77.0.1") if kernel else ("10.77.0.1", "10.77.0.2")
            seen = Seen(
                seg, src, dst, 1000.0 + t * draw(st.floats(0, 5)), kernel, draw(st.booleans())
            )
            report.add_segments([seen])
        elif kind == 3:
            states = st.none() | st.sampled_from(list(State))
            report.change(
                draw(st.sampled_from(list(Side))),
                draw(states),
                draw(states),
                draw(st.sampled_from(list(How))),
                time=draw(st.none() | st.floats(999, 1100)),
                conn=draw(st.none() | PORTS),
            )
        elif kind == 4:
            report.note(draw(TEXT))
        else:
            report.expect(draw(TEXT), draw(TEXT), draw(TEXT), draw(st.booleans()))
    return report


@settings(max_examples=150, deadline=None)
@given(exchanges(), st.integers(40, 160), st.booleans())
def test_a_random_exchange_never_overflows_the_width(report: Report, width: int, rel: bool) -> None:
    out = [line.plain for line in lines(build(report, rel), "6.1.0", width)]
    assert [line for line in out if columns(line) > width] == []
    assert too_wide(drawn(report, width, rel), width) == []
