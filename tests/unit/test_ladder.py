"""The ladder model (engine/ladder.py) on every lab's recorded runs: each kernel state change sits
beside the arrow the model names as its cause, never after a later segment of its own connection;
no socket before a connection a listener takes is LISTEN; a state the sampler missed is shown as
the model proves it; your side's states come from the model."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from tcplab.engine.ladder import PROVED, Ladder, build
from tcplab.engine.report import How, Side
from tcplab.exercise.catalog import get
from tcplab.exercise.evaluate import evaluate
from tcplab.exercise.recording import Recording
from tests.labcases import FIXTURES

RECORDED = sorted(FIXTURES.glob("*/recorded/*.json"))


def _id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


@cache
def _ladder(path: Path) -> Ladder:
    return build(evaluate(get(path.parent.parent.name), Recording.load(path)).report)


def reference(lab: str) -> Ladder:
    return _ladder(FIXTURES / lab / "recorded" / "reference.json")


@pytest.mark.parametrize("path", RECORDED, ids=_id)
def test_a_connection_a_listener_takes_starts_at_listen(path: Path) -> None:
    changes = [c for step in _ladder(path).steps for c in step.changes]
    assert not [c.text for c in changes if c.before == "CLOSED" and c.after == "SYN_RECEIVED"]


@pytest.mark.parametrize("path", RECORDED, ids=_id)
def test_a_kernel_change_on_its_own_line_comes_after_every_arrow_it_follows(path: Path) -> None:
    """A kernel change the model explains is beside an arrow; one on a line of its own (the
    model did not explain it) has no earlier-placed arrow of its connection after it."""
    lad = _ladder(path)
    for i, step in enumerate(lad.steps):
        change = step.change(Side.KERNEL)
        if change is None or step.arrow is not None:
            continue
        later = [s for s in lad.steps[i + 1 :] if s.arrow is not None and s.conn == step.conn]
        assert all(s.time is None or step.time is None or s.time >= step.time for s in later)


@pytest.mark.parametrize("lab", ["handshake", "accept-queue", "state-tour", "active-close"])
def test_the_kernels_syn_received_is_beside_its_syn_ack(lab: str) -> None:
    found = 0
    for step in reference(lab).steps:
        change = step.change(Side.KERNEL)
        if change is not None and change.after == "SYN_RECEIVED":
            assert step.arrow is not None and step.arrow.flags == "S."
            assert step.arrow.from_kernel
            found += 1
    assert found, "the reference's ladder shows the kernel in SYN_RECEIVED"


def test_time_waits_missed_syn_received_is_proved_by_the_capture() -> None:
    steps = reference("time-wait").steps
    proved = [
        (s, c) for s in steps for c in s.changes if c.how is How.MODEL and c.side is Side.KERNEL
    ]
    assert len(proved) == 1
    step, change = proved[0]
    assert (change.before, change.after, change.note) == ("LISTEN", "SYN_RECEIVED", PROVED)
    assert step.arrow is not None and step.arrow.flags == "S."
    after = next(
        s.change(Side.KERNEL)
        for s in steps
        if s.change(Side.KERNEL) is not None and s.change(Side.KERNEL).after == "ESTABLISHED"
    )
    assert after.before == "SYN_RECEIVED" and after.how is How.OBSERVED


def test_a_state_the_sampler_saw_is_never_proved_again() -> None:
    for path in RECORDED:
        for step in _ladder(path).steps:
            model = [c for c in step.changes if c.side is Side.KERNEL and c.how is How.MODEL]
            assert len(model) <= 1 and all(c.before != c.after for c in model)


def test_each_side_path_follows_the_steps() -> None:
    paths = {(p.side, p.conn): p.states for p in reference("time-wait").paths()}
    assert paths[(Side.KERNEL, "")][:5] == (
        "LISTEN",
        "SYN_RECEIVED",
        "ESTABLISHED",
        "FIN_WAIT_1",
        "FIN_WAIT_2",
    )


def test_your_side_in_a_lab_check_is_the_models_tcp_sending_and_receiving() -> None:
    lad = reference("handshake")
    (path,) = [p.states for p in lad.paths() if p.side is Side.CRAFTING]
    assert path == ("CLOSED", "SYN_SENT", "ESTABLISHED")
    syn, synack = lad.steps[0], lad.steps[1]
    assert syn.change(Side.CRAFTING) is not None and syn.arrow is not None
    assert synack.arrow is not None and synack.arrow.from_kernel  # you are ESTABLISHED on receipt
    mine = synack.change(Side.CRAFTING)
    assert mine is not None and mine.after == "ESTABLISHED" and mine.how is How.MODEL


def test_a_segment_the_model_cannot_follow_stops_your_side_with_a_note() -> None:
    lad = reference("rst")
    notes = [s.text for s in lad.steps if "your side's states" in s.text]
    assert notes == [
        "your side's states on port 48105 stop here: a TCP in CLOSED does not send S. "
        "(tcplab's model)",
        "your side's states on port 53315 stop here: a TCP in ESTABLISHED does not send S "
        "(tcplab's model)",
    ]
    at = next(i for i, s in enumerate(lad.steps) if s.text == notes[1])
    assert not [
        s for s in lad.steps[at:] if s.conn == lad.steps[at - 1].conn and s.change(Side.CRAFTING)
    ]
