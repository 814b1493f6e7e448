"""Each lab's checks scored on recorded runs, without root: the reference gets full marks, the
starter does not, every case gets its exact score and feedback (tests/labcases.py). Recorded with
`sudo python -m tests.record_labs LAB`; the live runs are tests/integration/test_labs.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcplab.exercise.catalog import get
from tcplab.exercise.checker import result_of
from tcplab.exercise.recording import Recording
from tests.labcases import (
    assert_feedback,
    assert_readable_numbers,
    case_name,
    cases,
    lab_names,
    recorded,
)

RECORDED = [lab for lab in lab_names() if recorded(lab, "reference").is_file()]
CASES = [(lab, c) for lab in RECORDED for c in cases(lab) if recorded(lab, case_name(c)).is_file()]


def score(lab: str, name: str) -> dict:
    rec = Recording.load(recorded(lab, name))
    return result_of(get(lab), Path(f"{name}.py"), rec).to_json()


def test_some_labs_are_recorded():
    assert "handshake" in RECORDED


@pytest.mark.parametrize("lab", RECORDED)
def test_the_recorded_reference_gets_full_marks(lab):
    result = score(lab, "reference")
    assert result["full_marks"], [c for c in result["checks"] if not c["ok"]]


@pytest.mark.parametrize("lab", RECORDED)
def test_the_recorded_starter_does_not(lab):
    result = score(lab, "starter")
    assert not result["full_marks"]
    assert_readable_numbers(result)


@pytest.mark.parametrize(("lab", "case"), CASES, ids=[f"{lab}-{case_name(c)}" for lab, c in CASES])
def test_each_recorded_case_gets_its_score_and_feedback(lab, case):
    result = score(lab, case_name(case))
    assert_feedback(case, result)
    assert_readable_numbers(result)


@pytest.mark.parametrize("lab", RECORDED)
def test_every_case_of_a_recorded_lab_is_recorded(lab):
    missing = [case_name(c) for c in cases(lab) if not recorded(lab, case_name(c)).is_file()]
    assert not missing, f"record them: sudo python -m tests.record_labs {lab}"
