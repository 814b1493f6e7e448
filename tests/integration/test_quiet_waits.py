"""Waits that end once nothing more can come (tcplab.engine.quiet), on the real kernel: a silence is
cut short only where the kernel cannot send before it would have ended, and every segment the kernel
does send within it is still seen (a shortcut that cut one off would turn each FAIL here into a PASS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcplab.engine.report import SegmentRow
from tcplab.engine.runner import ScenarioResult, run_scenario
from tcplab.engine.scenario import load
from tcplab.model.flags import Flags

pytestmark = pytest.mark.netns

OPEN = """
[scenario]
title = "quiet waits"
{head}

[[step]]
app = "listen"

[[step]]
send = "S 0:0(0) win 64240 <mss 1460>"

[[step]]
expect = "S. 0:0(0) ack 1 <mss 1460>"
"""

ESTABLISHED = (
    OPEN
    + """
[[step]]
send = ". 1:1(0) ack 1"

[[step]]
app = "accept"
"""
)


def run(tmp_path: Path, text: str, head: str = "") -> ScenarioResult:
    path = tmp_path / "quiet.toml"
    path.write_text(text.format(head=head))
    return run_scenario(load(path), shortcut=True)


def silence_line(result: ScenarioResult) -> int:
    return next(s.line for s in result.scenario.steps if s.kind == "expect_silence")


def silence_held(result: ScenarioResult) -> bool:
    checks = [c for c in result.report.checks if "no segment from the kernel" in c.name]
    assert len(checks) == 1, result.report.checks
    return checks[0].ok


def test_a_silence_on_an_idle_connection_is_cut_and_holds(tmp_path: Path) -> None:
    result = run(tmp_path, ESTABLISHED + "\n[[step]]\nexpect_silence = 0.5\n")
    assert result.ok, [c for c in result.report.checks if not c.ok]
    assert silence_line(result) in result.cut
    assert -1 in result.cut  # the final drain too


def test_the_synack_retransmission_timer_inside_a_silence_is_waited_for(tmp_path: Path) -> None:
    # the request sock's timer (about 1 s) expires inside the 1.5 s: the silence must see the resend
    result = run(tmp_path, OPEN + "\n[[step]]\nexpect_silence = 1.5\n")
    assert not silence_held(result)
    assert silence_line(result) not in result.cut


def test_the_same_timer_after_the_silence_lets_it_end_early(tmp_path: Path) -> None:
    result = run(tmp_path, OPEN + "\n[[step]]\nexpect_silence = 0.3\n", "ignore_extra = true")
    assert silence_held(result)
    assert silence_line(result) in result.cut


def test_unacknowledged_data_is_retransmitted_inside_the_silence(tmp_path: Path) -> None:
    # the kernel's data is never acknowledged: its write queue is not empty, its RTO (about 0.2 s)
    # resends it inside the silence
    text = ESTABLISHED + (
        '\n[[step]]\napp = "send"\ndata = "hello"\n\n[[step]]\nexpect = "P. 1:6(5) ack 1"\n'
        "\n[[step]]\nexpect_silence = 0.6\n"
    )
    result = run(tmp_path, text)
    assert not silence_held(result)
    assert silence_line(result) not in result.cut


@pytest.mark.parametrize("payload", ["x", "xxxxxxxxxx"])
def test_data_the_kernel_has_not_acknowledged_yet_is_acknowledged_inside_the_silence(
    tmp_path: Path, payload: str
) -> None:
    # our data needs an ACK (at once, or by the delayed-ACK timer sock_diag does not show)
    text = ESTABLISHED + (
        f'\n[[step]]\nsend = "P. 1:{1 + len(payload)}({len(payload)}) ack 1"\n'
        f'data = "{payload}"\n\n[[step]]\nexpect_silence = 0.3\n'
    )
    result = run(tmp_path, text)
    assert not silence_held(result)
    assert silence_line(result) not in result.cut


def test_a_step_after_a_cut_silence_runs_when_the_silence_would_have_ended(tmp_path: Path) -> None:
    # rate limits and timestamps depend on the time that passed: the next send waits for it
    text = ESTABLISHED + (
        '\n[[step]]\nexpect_silence = 0.4\n\n[[step]]\nsend = "R 1:1(0)"\n'
        '\n[[step]]\nexpect_state = "CLOSED"\n'
    )
    result = run(tmp_path, text)
    assert result.ok, [c for c in result.report.checks if not c.ok]
    assert silence_line(result) in result.cut
    crafted = [r.seen for r in result.report.rows if isinstance(r, SegmentRow)]
    ack, rst = [s for s in crafted if not s.from_kernel][-2:]
    assert rst.time - ack.time >= 0.4


def test_a_delayed_ack_that_sock_diag_does_not_show_is_waited_for(tmp_path: Path) -> None:
    # request, reply, request: the kernel's socket is in pingpong (interactive) mode and delays
    # the ACK of the second request (about 40 ms here, the delayed-ACK timer sock_diag never
    # reports): the silence must see it
    text = ESTABLISHED + (
        '\n[[step]]\nsend = "P. 1:6(5) ack 1"\ndata = "hello"\n\n[[step]]\napp = "recv"\n'
        '\n[[step]]\napp = "send"\ndata = "world"\n'
        '\n[[step]]\nsend = "P. 6:11(5) ack 6"\ndata = "again"\n'
        "\n[[step]]\nexpect_silence = 0.3\n"
    )
    result = run(tmp_path, text, "ignore_extra = true")
    assert not silence_held(result)
    assert silence_line(result) not in result.cut
    kernel = [
        r.seen for r in result.report.rows if isinstance(r, SegmentRow) and r.seen.from_kernel
    ]
    assert kernel[-1].segment.payload == b"" and kernel[-1].segment.flags == Flags.ACK
