"""The shipped GitHub Classroom workflow: its shape, as GitHub and the reporter action need it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / "tcplab" / "grade" / "templates" / "classroom.yml"


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def steps() -> dict[str, dict[str, Any]]:
    job = load()["jobs"]["run-autograding-tests"]
    return {s["name"]: s for s in job["steps"]}


def test_workflow_runs_on_push_on_a_hosted_runner_with_check_permissions() -> None:
    wf = load()
    assert "push" in wf["on"]
    job = wf["jobs"]["run-autograding-tests"]
    assert job["runs-on"] == "ubuntu-latest"
    assert job["name"] == "Autograding Tests"  # the reporter updates the check run of this name
    assert wf["permissions"]["checks"] == "write"


def test_reporter_reads_the_grade_steps_base64_result_under_its_runner_name() -> None:
    s = steps()
    report = s["Report to GitHub Classroom"]
    assert report["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    runner = report["with"]["runners"]
    grade_id = s["Grade with tcplab"]["id"]
    assert (
        report["env"][f"{runner.upper()}_RESULTS"] == f"${{{{ steps.{grade_id}.outputs.result }}}}"
    )
    assert 'echo "result=$(base64 -w0' in s["Grade with tcplab"]["run"]


def test_grade_step_grades_one_submission_and_refuses_symlinks() -> None:
    run = steps()["Grade with tcplab"]["run"]
    assert "tcplab grade class" in run and "-j 1" in run
    assert '[ ! -L "submission/$lab.py" ]' in run


def test_grade_step_reads_the_one_students_files_whatever_their_folder_is_called() -> None:
    # a repository name over 64 characters is graded under a safe id, not under its own name
    run = steps()["Grade with tcplab"]["run"]
    assert "set -- results/*/classroom.json" in run
    assert 'base64 -w0 < "$1"' in run and '"$(dirname "$1")/report.md"' in run
    assert "results/$student/" not in run
