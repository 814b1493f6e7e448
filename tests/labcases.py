"""The cases of each lab (tests/fixtures/labs/LAB/cases.toml), shared by the live tests, the unit
tests that score recorded runs, and the recorder (python -m tests.record_labs).

A case is a file, or the lab's `base` file (its reference) with `change`s: each `old` must stand
exactly once in it, so a reference that drifted fails instead of testing nothing. `score` is exact;
`first` is a phrase of the first failing check's detail; `never` lists phrases no failing check may
say (blames for what the solution did not do); `hint` (older cases) a phrase of a failing hint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomllib

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "labs"


def lab_names() -> list[str]:
    return sorted(p.parent.name for p in (REPO / "labs").glob("*/lab.toml"))


def cases(lab: str) -> list[dict[str, Any]]:
    path = FIXTURES / lab / "cases.toml"
    return list(tomllib.loads(path.read_text())["case"]) if path.is_file() else []


def case_name(case: dict[str, Any]) -> str:
    return str(case.get("name") or Path(str(case["file"])).stem)


def solution_text(lab: str, case: dict[str, Any]) -> str:
    if "file" in case:
        return (FIXTURES / lab / str(case["file"])).read_text()
    text = (REPO / "labs" / lab / str(case["base"])).read_text()
    for change in case["change"]:
        assert text.count(change["old"]) == 1, f"{case['name']}: change no longer applies"
        text = text.replace(change["old"], change["new"])
    return f'"""Case: {case["what"]}"""\n' + text.split("\n", 1)[1]


def write_solution(lab: str, case: dict[str, Any], folder: Path) -> Path:
    path = folder / f"{case_name(case)}.py"
    path.write_text(solution_text(lab, case))
    return path


def recorded(lab: str, name: str) -> Path:
    """Where the recorded run of a case (or "reference", "starter") is kept."""
    return FIXTURES / lab / "recorded" / f"{name}.json"


def assert_feedback(case: dict[str, Any], result: dict[str, Any]) -> None:
    """The case's exact score, its first failing line, and none of its `never` phrases."""
    rows = result["checks"]
    failing = [c for c in rows if not c["ok"]]
    lines = [f"{c['title']}: {c['detail']} | {c['hint']}" for c in rows]
    assert result["score"] == case["score"], (case_name(case), result["score"], lines)
    if "first" in case:
        assert failing and case["first"] in failing[0]["detail"], (case_name(case), lines)
    if "hint" in case:
        assert any(str(case["hint"]) in c["hint"] for c in failing), (case_name(case), lines)
    said = [f"{c['detail']} {c['hint']}" for c in failing]
    for phrase in case.get("never", []):
        assert not any(phrase in line for line in said), (case_name(case), phrase, lines)


# a relative number shown unsigned ("ISN+4294967295", "(4294967295)" on the ladder) or "+ -"
WRAP = re.compile(r"ISN ?[+-] ?42949\d{5}|\(42949\d{5}\)|ISN ?\+ ?-|\+ -")


def assert_readable_numbers(result: dict[str, Any]) -> None:
    """No feedback line prints an unsigned wrap-around or '+ -'."""
    for c in result["checks"]:
        text = f"{c['detail']} {c['hint']}"
        assert not WRAP.search(text), text
