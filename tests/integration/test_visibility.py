"""A check a course hides, end to end on the real kernel: a course's own labs folder (--labs) whose
handshake declares one check `visibility="hidden"`. `lab check` and every file a student gets show
"hidden check" and its points, nothing observed; grade.json and junit.xml keep it whole, and
Gradescope gets the test with visibility "hidden"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.netns

SECRET = "the kernel's socket reaches ESTABLISHED"


@pytest.fixture
def course(tmp_path: Path) -> Path:
    labs = tmp_path / "labs"
    shutil.copytree(REPO / "labs" / "handshake", labs / "handshake")
    checks = labs / "handshake" / "checks.py"
    source = checks.read_text()
    declared = f'@checks.add(\n    N_("{SECRET}"),\n    3,\n'
    assert declared in source
    checks.write_text(source.replace(declared, declared + '    visibility="hidden",\n'))
    return labs


def test_lab_check_shows_a_hidden_check_as_hidden_with_its_points(course: Path) -> None:
    ref = run_cli("lab", "check", "handshake", "--reference", "--labs", str(course), timeout=300)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    assert "hidden check" in ref.stdout and "3/3" in ref.stdout
    assert SECRET not in ref.stdout and "LISTEN -> SYN_RECEIVED on your SYN" not in ref.stdout
    data = run_cli(
        "lab", "check", "handshake", "--reference", "--labs", str(course), "--json", timeout=300
    )
    checks = json.loads(data.stdout)["checks"]
    assert [c["title"] for c in checks][-1] == "hidden check"
    assert checks[-1]["visibility"] == "hidden" and checks[-1]["detail"] == ""


def test_grading_keeps_a_hidden_check_for_the_instructor_only_and_writes_course_files(
    course: Path, tmp_path: Path
) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "ana").mkdir(parents=True)
    shutil.copy(course / "handshake" / "solution.py", subs / "ana" / "handshake.py")
    proc = run_cli(
        "grade", str(subs), "--lab", "handshake", "--labs", str(course), "--out", str(out),
        "-j", "1", "--excel", timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "gradebook.csv").read_bytes().startswith(b"\xef\xbb\xbfstudent,")
    canvas = (out / "canvas.csv").read_text().splitlines()
    assert canvas[1:] == ["Points Possible,,,,,10", "ana,,,,,10"]
    grade = json.loads((out / "grade.json").read_text())["outcomes"][0]
    hidden = next(c for c in grade["checks"] if c["title"] == SECRET)
    assert hidden["visibility"] == "hidden" and hidden["why"]
    assert SECRET in (out / "junit.xml").read_text()
    tests = json.loads((out / "ana" / "results.json").read_text())["tests"]
    assert [t["visibility"] for t in tests] == ["visible", "visible", "hidden"]
    for name in ("report.md", "report.html", "prairielearn.json", "classroom.json"):
        text = (out / "ana" / name).read_text()
        assert SECRET not in text and "hidden check" in text, name
