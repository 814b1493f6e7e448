"""Every submission accounted for, graded for real: a class folder with every kind of name an
instructor meets (spaces, accents, CJK, quotes, commas, 200 characters, Moodle's and Canvas's
download layouts), a roster, near-miss files, refused files and entries that are not folders. One
row per student and lab in every output, a folder per student, names shown as they are, a progress
line and a table that fit 80 columns, and an exit status that says some were not run."""

from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcplab import text
from tests.conftest import run_cli
from tests.integration.test_grade import leftovers
from tests.integration.test_grade_hardening import own_solution

pytestmark = pytest.mark.netns

SOLVED = {  # folder -> (name shown, student id): each holds a correct handshake.py
    "alice": ("Alice Liddell", "S001"),
    "José Núñez": ("José Núñez", ""),
    "张伟": ("张伟", ""),
    'O\'Brien, "Pat"': ('O\'Brien, "Pat"', ""),
    "Ω" + "x" * 199: ("Ω" + "x" * 199, ""),
    "Jane Doe_123456_assignsubmission_file_": ("Jane Doe", "123456"),
}
CANVAS_FILE = "doejohn_late_4321_99887_handshake.py"
NOT_RUN = {  # name shown -> (verdict, phrase of its message)
    "Bob": ("misnamed", "no handshake.py, but found Handshake (1).py"),
    "latin1": ("refused", "handshake.py is not UTF-8 (byte 0xe9 on line 1)"),
    "empty folder": ("missing", "no handshake.py in the student's folder"),
    "notes.txt": ("refused", "notes.txt is a regular file, not a folder"),
    "Ghost Student": ("missing", "no folder for this student in the submissions"),
}
ROSTER = (
    "\ufefffolder;student id;display name;email\n"
    "alice;S001;Alice Liddell;alice@example.edu\n"
    "bob;S002;Bob;bob@example.edu\n"
    "ghost;S003;Ghost Student;ghost@example.edu\n"
)


def build(subs: Path) -> None:
    solution = own_solution()
    for folder in SOLVED:
        (subs / folder).mkdir(parents=True)
        (subs / folder / "handshake.py").write_bytes(solution)
    (subs / CANVAS_FILE).write_bytes(solution)
    (subs / "bob").mkdir()
    (subs / "bob" / "Handshake (1).py").write_bytes(solution)
    (subs / "latin1").mkdir()
    (subs / "latin1" / "handshake.py").write_bytes(b"# caf\xe9\n" + solution)
    (subs / "empty folder").mkdir()
    (subs / "notes.txt").write_text("read me")
    (subs / ".DS_Store").write_text("")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, int]]:
    root = tmp_path_factory.mktemp("roster")
    subs, out = root / "class", root / "out"
    build(subs)
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8")
    proc = run_cli(
        "grade", str(subs), "--lab", "handshake", "--out", str(out), "-j", "2",
        "--seed", "roster", "--roster", str(root / "roster.csv"),
        env={**os.environ, "COLUMNS": "80"}, timeout=300,
    )  # fmt: skip
    yield out, proc.stdout + proc.stderr, proc.returncode


STUDENTS = len(SOLVED) + 1 + len(NOT_RUN)  # the Canvas file is one student


def test_one_row_per_student_in_every_output_and_exit_1(graded: tuple[Path, str, int]) -> None:
    out, log, code = graded
    assert code == 1, log
    data = json.loads((out / "grade.json").read_text())
    outcomes = data["outcomes"]
    assert len(outcomes) == len({o["student"] for o in outcomes}) == STUDENTS, log
    with (out / "gradebook.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student"] for r in rows) == sorted(o["student"] for o in outcomes)
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == STUDENTS
    for o in outcomes:
        assert (out / o["student"] / "results.json").is_file(), o["student"]
        assert (out / o["student"] / "report.html").is_file()
    assert data["meta"]["skipped"] == [
        "'.DS_Store': a hidden entry; not a student's (rename it to grade it)"
    ]
    assert leftovers() == []


def test_every_correct_solution_is_scored_under_its_real_name(
    graded: tuple[Path, str, int],
) -> None:
    out, log, _ = graded
    by_name = {o["name"]: o for o in json.loads((out / "grade.json").read_text())["outcomes"]}
    for name, student_id in [*SOLVED.values(), ("doejohn", "4321")]:
        o = by_name[name]
        assert (o["verdict"], o["score"], o["student_id"]) == ("scored", 10, student_id), o
    assert by_name["Alice Liddell"]["email"] == "alice@example.edu"
    with (out / "gradebook.csv").open(newline="", encoding="utf-8") as f:
        names = {r["name"] for r in csv.DictReader(f)}
    assert {"张伟", 'O\'Brien, "Pat"', "Jane Doe", "Ghost Student"} <= names
    report = (out / by_name["张伟"]["student"] / "report.md").read_text()
    assert report.startswith("# tcplab report: 张伟")
    suites = {s.get("name") for s in ET.parse(out / "junit.xml").getroot().iter("testsuite")}
    assert f"张伟 ({by_name['张伟']['student']})/handshake" in suites
    assert "Alice Liddell (alice)/handshake" in suites


def test_what_was_not_run_says_why(graded: tuple[Path, str, int]) -> None:
    out, _, _ = graded
    by_name = {o["name"]: o for o in json.loads((out / "grade.json").read_text())["outcomes"]}
    for name, (verdict, phrase) in NOT_RUN.items():
        o = by_name[name]
        assert (o["verdict"], o["score"], o["max_score"]) == (verdict, 0, 10), o["message"]
        assert phrase in o["message"]
    assert by_name["latin1"]["flags"] == ["not in the roster"]


def test_progress_and_table_fit_80_columns(graded: tuple[Path, str, int]) -> None:
    _, log, _ = graded
    lines = log.splitlines()
    table = lines[lines.index("tcplab grade") : lines.index("tcplab grade") + STUDENTS + 2]
    progress = [line for line in lines if line.startswith("  [")]
    assert len(progress) == STUDENTS and len(table) == STUDENTS + 2
    assert max(text.columns(line) for line in progress + table) <= 80, log
    assert any("张伟" in line for line in lines)
    assert any("…" in line and "Ωxxx" in line for line in lines)
    assert "not run" in log
