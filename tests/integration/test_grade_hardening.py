"""`tcplab grade` against a class that tries to break it: solution files that are directories,
FIFOs, sockets, symlinks or giants; student entries that are not folders; escape sequences; a fake
MemoryError; a flood of proxy connections; copies of the reference and tries to run it; a course's
own labs with private references. Every other student's row is written and right, nothing hangs,
nothing is left behind."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcplab.exercise.catalog import get
from tests.conftest import run_cli
from tests.integration.test_grade import grade_json, leftovers

pytestmark = pytest.mark.netns

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "grading" / "class"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def own_solution() -> bytes:
    """The reference with another ISN: a correct solution that is not a copy."""
    return get("handshake").solution.read_bytes().replace(b"isn = 1000", b"isn = 4242")


def build_class(subs: Path, tmp: Path) -> list[socket.socket]:
    """Every kind of unusable entry beside working solutions; returns sockets to close later."""

    def student(name: str) -> Path:
        (subs / name).mkdir(parents=True)
        return subs / name / "handshake.py"

    student("good").write_bytes(own_solution())
    student("dir").mkdir()
    os.mkfifo(student("fifo"))
    student("link-to-file").symlink_to(subs / "good" / "handshake.py")
    student("link-to-shadow").symlink_to("/etc/shadow")
    student("broken-link").symlink_to(tmp / "nowhere.py")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(student("socket")))
    with open(student("giant"), "wb") as f:
        f.write(b"#" * (10 << 20))
    student("missing").unlink(missing_ok=True)
    (subs / "folder-link").symlink_to(subs / "good")
    (subs / "file-student").write_text("print('not a folder')\n")
    shutil.copy(get("handshake").solution, student("copy"))
    for fixture in ("escapes", "fake_memory_error", "run_reference", "proxy_flood"):
        shutil.copy(FIXTURES / f"{fixture}.py", student(fixture.replace("_", "-")))
    return [sock]


@pytest.fixture(scope="module")
def class_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("hardening")
    subs, out = root / "subs", root / "out"
    held = build_class(subs, root)
    try:
        proc = run_cli(
            "grade", str(subs), "--lab", "handshake", "--out", str(out), "-j", "2",
            "--time-limit", "8", "--seed", "hardening", timeout=600,
        )  # fmt: skip
    finally:
        for s in held:
            s.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr  # refused entries: not run
    yield out, proc.stdout + proc.stderr


def outcome(out: Path, student: str) -> dict[str, Any]:
    return grade_json(out)[(student, "handshake")]


REFUSED = [
    ("dir", "handshake.py is a folder"),
    ("fifo", "handshake.py is a FIFO"),
    ("link-to-file", "handshake.py is a symbolic link"),
    ("link-to-shadow", "handshake.py is a symbolic link"),
    ("broken-link", "handshake.py is a symbolic link"),
    ("socket", "handshake.py is a socket"),
    ("giant", "handshake.py is larger than 256 KiB"),
    ("folder-link", "folder-link is a symbolic link, not a folder"),
    ("file-student", "file-student is a regular file, not a folder"),
]


@pytest.mark.parametrize(("student", "phrase"), REFUSED, ids=[s for s, _ in REFUSED])
def test_unusable_entry_gets_its_own_refused_row(
    class_run: tuple[Path, str], student: str, phrase: str
) -> None:
    out, _ = class_run
    o = outcome(out, student)
    assert (o["verdict"], o["score"], o["max_score"]) == ("refused", 0, 10), o["message"]
    assert phrase in o["message"]
    assert "root:" not in json.dumps(o)


def test_every_other_student_is_graded_and_every_class_file_written(
    class_run: tuple[Path, str],
) -> None:
    out, _ = class_run
    outcomes = grade_json(out)
    assert outcome(out, "good")["verdict"] == "scored" and outcome(out, "good")["score"] == 10
    assert outcome(out, "good")["flags"] == []
    assert outcome(out, "missing")["verdict"] == "missing"
    rows = list(csv.DictReader((out / "gradebook.csv").open(newline="")))
    assert len(rows) == len(outcomes) == 16
    assert (out / "junit.xml").stat().st_size > 0
    for student, _ in outcomes:
        for name in ("results.json", "prairielearn.json", "classroom.json", "report.md"):
            assert (out / student / name).is_file(), (student, name)
    assert leftovers() == []


def test_a_printed_memory_error_is_not_a_memory_limit(class_run: tuple[Path, str]) -> None:
    out, _ = class_run
    o = outcome(out, "fake-memory-error")
    assert (o["verdict"], o["message"]) == ("scored", "ran to the end")


def test_escape_sequences_never_reach_the_terminal_or_the_files(
    class_run: tuple[Path, str],
) -> None:
    out, terminal = class_run
    o = outcome(out, "escapes")
    assert o["verdict"] == "runtime_error" and "boom" in o["message"]
    assert "pwned" in o["stdout"] and "resrever" in o["stderr"]  # the text stays, readable
    for where, content in (
        ("terminal", terminal),
        ("gradebook.csv", (out / "gradebook.csv").read_text()),
        ("grade.json", json.dumps(json.loads((out / "grade.json").read_text()))),
        ("report.md", (out / "escapes" / "report.md").read_text()),
        ("junit.xml", (out / "junit.xml").read_text()),
    ):
        assert not CONTROL.search(content.replace("\n", "").replace("\t", "")), where
        assert "\\u001b" not in content and "\\u009b" not in content, where


def test_copies_and_tries_to_run_the_reference_are_flagged(class_run: tuple[Path, str]) -> None:
    out, terminal = class_run
    copy = outcome(out, "copy")
    assert (copy["verdict"], copy["score"]) == ("scored", 10)  # the score as observed...
    assert "identical to the reference" in copy["flags"][0]  # ...but never in silence
    assert "flagged: identical to the reference" in copy["message"]
    runner = outcome(out, "run-reference")
    assert runner["score"] == 0, runner["stdout"]  # the reference is not in the jail
    assert "FOUND" not in runner["stdout"] and "no reference to be found" in runner["stdout"]
    assert runner["flags"], runner["message"]
    assert json.loads((out / "grade.json").read_text())["totals"]["flagged"] == 2
    assert "2 flagged" in terminal and "copy/handshake" in terminal


def test_a_thousand_proxy_connections_are_refused_past_the_limit(
    class_run: tuple[Path, str],
) -> None:
    out, _ = class_run
    o = outcome(out, "proxy-flood")
    assert (o["verdict"], o["score"]) == ("scored", 10), o["message"] + o["stderr"]
    assert "served 8 refused 992 failed 0" in o["stdout"], o["stdout"]
    assert o["wall_s"] < 6, o["wall_s"]  # refusals are immediate: grading time stays normal


# ---- a course's own labs ------------------------------------------------------------------------


PEEK = """
import os
from tcplab.student import Lab
for name in ("solution.py", "checks.py"):
    path = os.path.join({folder!r}, "handshake", name)
    try:
        open(path).read()
        print("FOUND", name)
    except OSError:
        print("hidden", name)
"""


@pytest.fixture
def course_under_usr() -> Iterator[Path]:
    """A course's labs folder where the jail shows everything (/usr), removed afterwards."""
    folder = Path("/usr/local/share") / f"tlt-course-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(get("handshake").dir, folder / "handshake")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_course_labs_are_graded_and_their_references_hidden_from_the_jail(
    course_under_usr: Path, tmp_path: Path
) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "peeker").mkdir(parents=True)
    peek = PEEK.format(folder=str(course_under_usr)).encode()
    (subs / "peeker" / "handshake.py").write_bytes(peek + own_solution())
    proc = run_cli(
        "grade", str(subs), "--lab", "handshake", "--labs", str(course_under_usr),
        "--out", str(out), "-j", "1", timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    o = grade_json(out)[("peeker", "handshake")]
    assert (o["verdict"], o["score"]) == ("scored", 10), o["stdout"] + o["stderr"]
    assert "hidden solution.py" in o["stdout"] and "hidden checks.py" in o["stdout"]
    assert "FOUND" not in o["stdout"]
    meta = json.loads((out / "grade.json").read_text())["meta"]
    assert meta["labs_dir"] == str(course_under_usr)
    assert leftovers() == []


def test_lab_commands_take_a_course_labs_folder(course_under_usr: Path) -> None:
    (course_under_usr / "handshake" / "lab.toml").write_text(
        (course_under_usr / "handshake" / "lab.toml").read_text().replace("by hand", "our course")
    )
    listed = run_cli("lab", "list", "--labs", str(course_under_usr))
    assert listed.returncode == 0 and "our course" in listed.stdout, listed.stderr
    checked = run_cli("lab", "check", "handshake", "--reference", "--labs", str(course_under_usr))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (course_under_usr / "handshake" / "solution.py").unlink()
    gone = run_cli("lab", "check", "handshake", "--reference", "--labs", str(course_under_usr))
    assert gone.returncode == 3, gone.stdout + gone.stderr
    assert gone.stderr.startswith("error: lab handshake has no reference solution here")
    bad = run_cli("lab", "list", "--labs", str(course_under_usr / "nope"))
    assert bad.returncode == 2 and "error: --labs" in bad.stderr
