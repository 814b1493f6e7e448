"""The ladders of every recorded lab run (tests/fixtures/labs/*/recorded), built once, for the
tests of the pictures (no root: each recording is evaluated through the model)."""

from __future__ import annotations

from functools import cache

from tcplab.engine.ladder import Ladder, build
from tcplab.engine.report import Report
from tcplab.exercise.catalog import get
from tcplab.exercise.evaluate import evaluate
from tcplab.exercise.recording import Recording
from tests.labcases import FIXTURES


def recordings() -> list[tuple[str, str]]:
    """(lab, name) of every recorded run."""
    return sorted((p.parent.parent.name, p.stem) for p in FIXTURES.glob("*/recorded/*.json"))


@cache
def report(lab: str, name: str) -> Report:
    rec = Recording.load(FIXTURES / lab / "recorded" / f"{name}.json")
    return evaluate(get(lab), rec).report


@cache
def ladder(lab: str, name: str) -> Ladder:
    return build(report(lab, name))
