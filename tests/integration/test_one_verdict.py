"""One verdict everywhere: a solution's `lab check` score is its `tcplab grade` score.

Every lab's reference and every case of tests/fixtures/labs/LAB/cases.toml (reference + change) is
graded once, as one class folder with -j 2. `lab check`'s score of each of those files is the case's
exact `score` (and the reference's full marks): tests/integration/test_labs.py holds `lab check` to
them, live, so only the grading side runs here. A solution that sends from a fixed port is run by
both: both drop its segments by the same port rule, score it the same, and name the rule. One that
prints 2 MiB before it starts is stopped by grading's output limit: `lab check` (no limit but the
clock) names that limit and what grading does there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tcplab.exercise.catalog import all_labs, get
from tcplab.exercise.rules import PORT_FIX
from tests import labcases
from tests.conftest import run_cli

pytestmark = pytest.mark.netns
LABS = [lab.name for lab in all_labs()]
FIXED_PORT = 4242


def fixed_port_solution() -> str:
    """The handshake reference, sending from port 4242 instead of lab.sport."""
    text = get("handshake").solution.read_text()
    assert text.count("sport=lab.sport") == 2, "the reference changed: update this test"
    return text.replace("sport=lab.sport", f"sport={FIXED_PORT}")


def loud_solution() -> str:
    """The handshake reference, printing 2 MiB first (grading's output limit is 1 MiB)."""
    return 'print("x" * (2 << 20))\n' + get("handshake").solution.read_text()


def class_folder(subs: Path) -> dict[tuple[str, str], tuple[int | None, str]]:
    """Folder `ref` holds every lab's reference; folder `case-NN` the NN-th case of each lab that
    has one. Returns (folder, lab) -> (`lab check`'s score, None for full marks; the case's name)."""
    expected: dict[tuple[str, str], tuple[int | None, str]] = {}
    (subs / "ref").mkdir(parents=True)
    for lab in LABS:
        shutil.copy(get(lab).solution, subs / "ref" / f"{lab}.py")
        expected[("ref", lab)] = (None, "reference")
        for i, case in enumerate(labcases.cases(lab)):
            folder = subs / f"case-{i:02d}"
            folder.mkdir(exist_ok=True)
            (folder / f"{lab}.py").write_text(labcases.solution_text(lab, case))
            expected[(folder.name, lab)] = (int(case["score"]), labcases.case_name(case))
    (subs / "fixed-port").mkdir()
    (subs / "fixed-port" / "handshake.py").write_text(fixed_port_solution())
    (subs / "loud").mkdir()
    (subs / "loud" / "handshake.py").write_text(loud_solution())
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[tuple[str, str], Any], Any]:
    tmp = tmp_path_factory.mktemp("one-verdict")
    subs, out = tmp / "subs", tmp / "out"
    expected = class_folder(subs)
    proc = run_cli("grade", str(subs), "--lab", ",".join(LABS), "--out", str(out), "-j", "2",
                   "--seed", "one-verdict", timeout=1800)  # fmt: skip
    assert proc.returncode not in (2, 3, 130), proc.stdout + proc.stderr
    data = json.loads((out / "grade.json").read_text())
    outcomes = {(o["student"], o["lab"]): o for o in data["outcomes"]}
    return outcomes, (expected, out)


def test_every_reference_and_case_gets_its_lab_check_score_when_graded(graded):
    outcomes, (expected, _) = graded
    differ = []
    for key, (score, name) in expected.items():
        o = outcomes[key]
        want = o["max_score"] if score is None else score
        # a wrong solution that gives up exits 1 (runtime_error), in `lab check` as graded
        if o["score"] != want or o["verdict"] not in ("scored", "runtime_error"):
            rule = (o.get("port_rule") or {}).get("text", "no rule named")
            differ.append(f"{key[1]} {name}: lab check {want}, grade {o['score']} "
                          f"({o['verdict']}: {o['message']}; {rule})")  # fmt: skip
    assert differ == [], "\n".join(differ)
    refs = [o for (who, _), o in outcomes.items() if who == "ref"]
    assert len(refs) == len(LABS) and all(o["verdict"] == "scored" for o in refs)
    assert len(expected) == len(LABS) + sum(len(labcases.cases(lab)) for lab in LABS)


def test_no_reference_or_case_is_touched_by_the_port_rule(graded):
    outcomes, (expected, _) = graded
    touched = [key for key in expected if outcomes[key].get("port_rule")]
    assert touched == []


def test_a_fixed_source_port_scores_the_same_in_lab_check_and_grade_and_both_name_the_rule(
    graded, tmp_path
):
    outcomes, (_, out) = graded
    solution = tmp_path / "handshake.py"
    solution.write_text(fixed_port_solution())
    proc = run_cli("lab", "check", "handshake", str(solution), "--json", "--hint-level", "1",
                   timeout=180)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    checked = json.loads(proc.stdout)
    o = outcomes[("fixed-port", "handshake")]
    assert checked["score"] == o["score"] < o["max_score"]
    for rule, ports in ((checked["port_rule"], checked["ports"]), (o["port_rule"], o["ports"])):
        assert rule["ports"] == [FIXED_PORT] and rule["dropped"] >= 1, rule
        assert rule["allowed"] == ports and len(ports) == 16
        assert rule["text"].startswith(f"port rule: {rule['dropped']} segment")
        assert f"from port {FIXED_PORT}" in rule["text"] and PORT_FIX in rule["text"]
    report = (out / "fixed-port" / "report.md").read_text()
    assert "port rule" in report and f"from port {FIXED_PORT}" in report
    text = run_cli("lab", "check", "handshake", str(solution), "--hint-level", "1", timeout=180)
    said = " ".join(text.stdout.split())  # wrapped to the terminal's width
    assert f"port rule: 1 segment you sent from port {FIXED_PORT} was dropped" in said


def test_a_run_past_grading_output_limit_is_named_by_lab_check(graded, tmp_path):
    outcomes, _ = graded
    o = outcomes[("loud", "handshake")]
    assert (o["verdict"], o["score"]) == ("runtime_error", 0)
    assert o["message"].startswith("wrote more than 1024 KiB of output")
    solution = tmp_path / "handshake.py"
    solution.write_text(loud_solution())
    proc = run_cli("lab", "check", "handshake", str(solution), "--json", "--hint-level", "1",
                   timeout=180)  # fmt: skip
    checked = json.loads(proc.stdout)
    assert proc.returncode == 0 and checked["full_marks"], proc.stderr
    assert checked["grading_limits"] == [
        "grading's limit: 1024 KiB of output; your program wrote 2048 KiB: graded, it is stopped"
        " there (runtime_error)"
    ]
