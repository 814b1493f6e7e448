"""The report is pure data: a driver pushes recorded segments, state changes, notes and a step's
expected vs observed into it; each row kind is a class that writes its own JSON, and the CLI draws
each class. Facts and checks are built with keywords only."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tcplab.cli.render import ladder
from tcplab.engine.check import Check, check_answer, fact, match_pattern
from tcplab.engine.predicted import Predicted
from tcplab.engine.report import (
    ExpectRow,
    How,
    NoteRow,
    Report,
    SegmentRow,
    Side,
    StateRow,
)
from tcplab.engine.seen import Seen
from tcplab.model.endpoint import Endpoint
from tcplab.model.flags import Flags
from tcplab.model.notation import parse_pattern
from tcplab.model.segment import Segment
from tcplab.model.state import State

CRAFTING, KERNEL = "10.77.0.1", "10.77.0.2"


def recorded() -> list[Seen]:
    """A handshake's SYN and SYN+ACK as the capture saw them, and a segment of another connection."""
    syn = Segment(40000, 7788, Flags.SYN, seq=1000, window=64240)
    synack = Segment(7788, 40000, Flags.SYN | Flags.ACK, seq=5000, ack=1001, window=65160)
    other = Segment(40001, 7788, Flags.SYN, seq=7, window=64240)
    return [
        Seen(syn, CRAFTING, KERNEL, 10.0, False, True),
        Seen(other, CRAFTING, KERNEL, 10.0005, False, True),
        Seen(synack, KERNEL, CRAFTING, 10.001, True, False),
    ]


def sample_report() -> Report:
    report = Report("handshake", f"ns1 {CRAFTING}:40000", f"ns2 {KERNEL}:7788", crafting_isn=1000)
    report.kernel_isn = 5000
    report.change(Side.KERNEL, None, State.LISTEN, How.OBSERVED, "port 7788 has a listener")
    report.add_segments(recorded(), (40000, 7788))
    report.change(Side.CRAFTING, State.CLOSED, State.SYN_SENT, How.MODEL)
    report.expect("line 3", "SA 0:1(0)", "SA 0:1(0)", True)
    report.note("tidy-up")
    return report


def test_a_driver_pushes_segments_and_the_ports_keep_one_connection() -> None:
    report = sample_report()
    kinds = [type(row) for row in report.rows]
    assert kinds == [StateRow, SegmentRow, SegmentRow, StateRow, ExpectRow, NoteRow]
    segments = [row.seen.segment.flags for row in report.rows if isinstance(row, SegmentRow)]
    # port 40001's SYN is another connection's
    assert segments == [Flags.SYN, Flags.SYN | Flags.ACK]
    assert report.rel_time(10.001) == pytest.approx(0.001)  # times count from the first segment


def test_each_row_kind_writes_its_own_json() -> None:
    ladder_json = sample_report().to_json()["ladder"]
    assert [row["kind"] for row in ladder_json] == [
        "state",
        "segment",
        "segment",
        "state",
        "expect",
        "note",
    ]
    assert ladder_json[0] == {
        "kind": "state",
        "side": "kernel",
        "how": "observed",
        "note": "port 7788 has a listener",
        "from": "no socket",
        "to": "LISTEN",
        "time": None,  # placed where the driver pushed it
        "conn": None,
    }
    synack = ladder_json[2]
    assert (synack["from"], synack["flags"], synack["rel_seq"], synack["rel_ack"]) == (
        "kernel",
        "S.",
        0,
        1,
    )
    assert synack["time"] == pytest.approx(0.001) and synack["checksum_ok"] is False
    assert ladder_json[4] == {
        "kind": "expect",
        "step": "line 3",
        "expected": "SA 0:1(0)",
        "observed": "SA 0:1(0)",
        "ok": True,
    }
    assert ladder_json[5] == {"kind": "note", "text": "tidy-up"}


def test_the_ladder_draws_every_row_class() -> None:
    out = Console(file=io.StringIO(), width=200, record=True)
    ladder(sample_report(), show_checks=False, out=out)
    text = out.export_text()
    lines = text.rstrip("\n").splitlines()
    assert "you (ns1) 10.77.0.1:40000" in lines[0] and "kernel (ns2) 10.77.0.2:7788" in lines[0]
    assert lines[2].split() == ["ms", "CLOSED", "│", "│", "LISTEN"]  # both sides' start
    assert "S seq +0 win 64240 ──" in lines[3] and lines[3].endswith("▶ │")
    assert "◀──" in lines[4] and "S. seq +0 ack +1 win 65160 (bad checksum)" in lines[4]
    assert "✓ line 3: expected SA 0:1(0), observed SA 0:1(0)" in text
    assert lines[-1].split() == ["SYN_SENT", "│", "│"]  # pushed last: no arrow of yours after it
    assert "tidy-up" in text


def test_facts_checks_and_patterns_take_their_fields_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        fact("the socket is LISTEN", True, "LISTEN", "LISTEN", "why")  # type: ignore[misc]
    with pytest.raises(TypeError):
        Check("the socket is LISTEN", True, "LISTEN", "LISTEN", "why")  # type: ignore[misc]
    seg = Segment(7788, 40000, Flags.SYN | Flags.ACK, seq=5000, ack=1001)
    with pytest.raises(TypeError):
        match_pattern(parse_pattern("SA"), seg, "x", "why")  # type: ignore[misc]
    made = fact(name="n", ok=False, expected=3, observed=None, why="w", source="RFC 9293")
    assert made == Check(
        name="n", ok=False, expected="3", observed="None", why="w", source="RFC 9293"
    )
    assert made.to_json()["linux_note"] == ""


def test_a_recorded_answer_is_checked_without_a_lab() -> None:
    syn = Segment(40000, 7788, Flags.SYN, seq=1000)
    listener = Endpoint.seen(State.LISTEN)
    expected = Predicted(listener.receive(syn, 0.0), "the SYN", 0.0, crafted=True)
    synack = recorded()[2].segment
    checks = check_answer(expected, synack, "the SYN")
    assert checks and all(c.ok for c in checks), checks
    assert all(c.prediction is expected for c in checks) and expected.agrees is True
    assert checks[0].to_json()["prediction"]["rule"] == "listen-syn"


def test_a_disagreement_is_checked_and_said_plainly() -> None:
    syn = Segment(40000, 7788, Flags.SYN, seq=1000)
    expected = Predicted(Endpoint.seen(State.LISTEN).receive(syn, 0.0), "the SYN", 0.0)
    refused = Segment(7788, 40000, Flags.RST | Flags.ACK, seq=0, ack=1001)
    wrong = check_answer(expected, refused, "the SYN")
    assert not all(c.ok for c in wrong) and expected.agrees is False
    assert wrong[0].why.startswith("tcplab's model predicted S. seq * ack 1001 after the SYN")
    assert "(rule listen-syn, RFC 9293 §3.10.7.2" in wrong[0].why
    assert wrong[0].why.endswith("the kernel did " + refused.notation())
    assert wrong[0].to_json()["prediction"]["agrees"] is False


def test_a_predicted_silence_is_checked_with_its_prediction() -> None:
    rst = Segment(40000, 7788, Flags.RST, seq=1000)
    quiet = Predicted(Endpoint.seen(State.LISTEN).receive(rst, 0.0), "the RST", 0.0)
    (held,) = check_answer(quiet, None, "the RST")
    assert held.ok and held.name == "no answer to the RST" and quiet.agrees is True
    assert held.to_json()["prediction"]["pattern"] is None
    missing = Predicted(Endpoint.seen(None).receive(rst, 0.0), "x", 0.0)
    assert missing.silence  # a RST to no socket: never answered
    syn = Segment(40000, 7788, Flags.SYN, seq=1)
    lost = Predicted(Endpoint.seen(None).receive(syn, 0.0), "the SYN", 0.0)
    (none,) = check_answer(lost, None, "the SYN")
    assert not none.ok and none.expected == "RST+ACK seq 0 ack 2" and none.observed == "no reply"
