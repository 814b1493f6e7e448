"""Every submission accounted for: any entry name gets a safe, unique, stable id and keeps its real
name; Moodle's, Canvas's and GitHub Classroom's download layouts are read; a roster maps folders to
students; a near-miss file is misnamed (never run); what is not run is refused with why, by the same
rule as `lab check`."""

from __future__ import annotations

import encodings.aliases
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcplab.cli import main
from tcplab.errors import UsageError
from tcplab.exercise.catalog import get
from tcplab.exercise.source import MAX_SOLUTION, problem
from tcplab.grade.outcome import Verdict
from tcplab.grade.roster import SAFE_ID, parse_roster, read_roster, safe_id
from tcplab.grade.submission import NotRun, Submission, discover, looks_like, prepare

NAMES = [
    "alice",
    "José Núñez",
    "张伟",
    'O\'Brien, "Pat"',
    "Zoë  Ångström",
    "x" * 200,
    "Jane Doe_123456_assignsubmission_file_",
    "gradebook.csv",
    "-leading-dash",
    "a/b".replace("/", "∕"),
]

# ---- ids -----------------------------------------------------------------------------------

file_names = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1
).filter(lambda n: n not in (".", ".."))


@settings(max_examples=500)
@given(file_names)
def test_any_name_gets_a_safe_short_ascii_id_that_is_stable(name: str) -> None:
    sid = safe_id(name)
    assert SAFE_ID.fullmatch(sid) and len(sid) <= 64 and sid.isascii()
    assert sid.lower() not in {"gradebook.csv", "grade.json", "junit.xml"}
    assert safe_id(name) == sid


@settings(max_examples=300)
@given(file_names, file_names)
def test_two_names_never_share_an_id(a: str, b: str) -> None:
    if a != b:
        assert safe_id(a) != safe_id(b)


def test_a_plain_name_is_its_own_id_and_others_a_slug_and_hash() -> None:
    assert safe_id("alice") == "alice"
    assert re.fullmatch(r"Jose-Nunez-[0-9a-f]{10}", safe_id("José Núñez"))
    assert re.fullmatch(r"student-[0-9a-f]{10}", safe_id("张伟"))
    assert len(safe_id("x" * 200)) == 64
    assert safe_id("gradebook.csv").startswith("gradebook.csv-")


def test_a_name_that_is_not_utf8_gets_an_id_and_a_readable_name(tmp_path: Path) -> None:
    os.mkdir(os.fsencode(tmp_path) + b"/caf\xe9")
    subs, _ = discover(tmp_path, [get("handshake")])
    assert subs[0].who is not None and subs[0].who.name == "caf\ufffd"
    assert SAFE_ID.fullmatch(subs[0].student)


# ---- discovery of a class ------------------------------------------------------------------


def make_class(root: Path) -> None:
    for name in NAMES:
        (root / name).mkdir()
        (root / name / "handshake.py").write_text("print(1)\n")
    (root / ".DS_Store").write_text("")
    (root / "grade.json").write_text("{}")


def test_every_folder_is_a_student_under_its_real_name(tmp_path: Path) -> None:
    make_class(tmp_path)
    subs, skipped = discover(tmp_path, [get("handshake")])
    names = sorted(s.who.name for s in subs if s.who)
    assert len(subs) == len(NAMES) and len({s.student for s in subs}) == len(NAMES)
    assert "Jane Doe" in names  # Moodle's folder: the name it carries
    assert {n for n in NAMES if "assignsubmission" not in n} <= set(names)
    assert all(s.path is not None and s.path.name == "handshake.py" for s in subs)
    assert skipped == [
        "'.DS_Store': a hidden entry; not a student's (rename it to grade it)",
        "'grade.json': the name of a class file of --out; not a student's",
    ]


def test_moodle_folders_of_one_participant_are_one_student(tmp_path: Path) -> None:
    a = tmp_path / "Jane Doe_123456_assignsubmission_file_"
    b = tmp_path / "Jane Doe_123456_assignsubmission_onlinetext"  # with or without the last '_'
    a.mkdir(), b.mkdir()
    (a / "handshake.py").write_text("print(1)\n")
    (b / "onlinetext.html").write_text("<p>hi</p>")
    (tmp_path / "Ann Lee_777_assignsubmission_file_handshake.py").write_text("x = 1\n")
    subs, _ = discover(tmp_path, [get("handshake"), get("rst")])
    by = {(s.who.name, s.lab.name): s for s in subs if s.who}
    assert len(subs) == 4
    jane = by["Jane Doe", "handshake"]
    assert jane.who is not None and (jane.who.student_id, jane.who.layout) == ("123456", "moodle")
    assert jane.path == a / "handshake.py"
    assert by["Jane Doe", "rst"].path is None
    ann = by["Ann Lee", "handshake"]
    assert ann.path is not None and ann.path.name.endswith("_handshake.py")


def test_canvas_flat_files_are_grouped_by_user_id(tmp_path: Path) -> None:
    for name in (
        "doejane_1234_98765_handshake.py",
        "doejane_late_1234_98766_rst-1.py",  # late, uploaded again: Canvas added "-1"
        "leeann_5678_98767_Handshake.py",
    ):
        (tmp_path / name).write_text("print(1)\n")
    subs, _ = discover(tmp_path, [get("handshake"), get("rst")])
    by = {(s.who.student_id, s.lab.name): s for s in subs if s.who}
    assert len(subs) == 4
    assert by["1234", "handshake"].path == tmp_path / "doejane_1234_98765_handshake.py"
    assert by["1234", "rst"].path == tmp_path / "doejane_late_1234_98766_rst-1.py"
    assert by["1234", "rst"].student == "doejane_1234"
    assert by["5678", "handshake"].misnamed == ("Handshake.py",)


def test_classroom_repositories_are_named_by_login(tmp_path: Path) -> None:
    for login in ("alice", "bob-smith", "carol99"):
        (tmp_path / f"tcp-handshake-{login}").mkdir()
    subs, _ = discover(tmp_path, [get("handshake")])
    assert sorted((s.who.student_id, s.who.layout) for s in subs if s.who) == [
        ("alice", "classroom"), ("bob-smith", "classroom"), ("carol99", "classroom"),
    ]  # fmt: skip
    assert sorted(s.student for s in subs) == [
        "tcp-handshake-alice", "tcp-handshake-bob-smith", "tcp-handshake-carol99",
    ]  # fmt: skip


# ---- misnamed ------------------------------------------------------------------------------

MEANT = [
    ("Handshake.py", "handshake"),
    ("handshake.PY", "handshake"),
    ("active_close.py", "active-close"),
    ("Active Close.py", "active-close"),
    ("active-close (1).py", "active-close"),
    ("rst.py.txt", "rst"),
    ("rst", "rst"),
    ("handshake-1.py", "handshake"),
    ("handshake copy.py", "handshake"),
    ("handshake - Copy.py", "handshake"),
]
NOT_MEANT = [
    ("handshake2.py", "handshake"),
    ("rst.py", "handshake"),
    ("active.py", "active-close"),
    ("notes.txt", "rst"),
    ("._handshake.py", "handshake"),
]


@pytest.mark.parametrize(("name", "lab"), MEANT)
def test_a_near_miss_looks_meant_for_the_lab(name: str, lab: str) -> None:
    assert looks_like(name, lab)


@pytest.mark.parametrize(("name", "lab"), NOT_MEANT)
def test_another_file_does_not(name: str, lab: str) -> None:
    assert not looks_like(name, lab)


def test_a_misnamed_file_is_named_and_never_run(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "Handshake.py").write_text("print(1)\n")
    (tmp_path / "bob" / "lab1").mkdir(parents=True)
    (tmp_path / "bob" / "lab1" / "handshake.py").write_text("print(1)\n")
    subs, _ = discover(tmp_path, [get("handshake")])
    by = {s.student: s for s in subs}
    for student, found in (("alice", "Handshake.py"), ("bob", "lab1/handshake.py")):
        with pytest.raises(NotRun) as err:
            prepare(by[student])
        assert err.value.verdict is Verdict.MISNAMED
        assert err.value.message == (
            f"no handshake.py, but found {found}; rename it handshake.py: it was not run"
        )


# ---- refused: one rule for lab check and grade -----------------------------------------------


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (b"# caf\xe9\nprint(1)\n", "is not UTF-8 (byte 0xe9 on line 1) and has no coding line"),
        (b"# coding: klingon\nx = 1\n", "its coding line names 'klingon', a codec Python does not"),
        (b"# coding: ascii\ns = '\xe9'\n", "is not ascii as its coding line says (byte 0xe9 on line 2)"),
        (b"#" * (MAX_SOLUTION + 1), "larger than 256 KiB"),
    ],
)  # fmt: skip
def test_a_file_python_would_not_read_is_refused_with_why(source: bytes, why: str) -> None:
    assert why in (problem(source, "rst.py") or "")


@pytest.mark.parametrize(
    "source",
    [
        b"# -*- coding: latin-1 -*-\n# caf\xe9\nprint(1)\n",
        b"#!/usr/bin/env python3\n# vim: set fileencoding=latin-1 :\ns = '\xe9'\n",
        "print('张伟')\n".encode(),
        b"\xef\xbb\xbfprint(1)\n",
        b"",
    ],
)
def test_what_python_reads_is_run(source: bytes) -> None:
    assert problem(source, "rst.py") is None


def test_a_latin1_file_is_refused_before_it_runs(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "rst.py").write_bytes(b"# caf\xe9\nprint(1)\n")
    (sub,), _ = discover(tmp_path, [get("rst")])
    with pytest.raises(NotRun) as err:
        prepare(sub)
    assert err.value.verdict is Verdict.REFUSED
    assert err.value.message.startswith("rst.py is not UTF-8 (byte 0xe9 on line 1)")


def test_a_student_entry_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (sub,), _ = discover(tmp_path, [get("rst")])
    assert isinstance(sub, Submission)
    with pytest.raises(NotRun) as err:
        prepare(sub)
    assert err.value.verdict is Verdict.REFUSED
    assert "notes.txt is a regular file, not a folder" in err.value.message


# ---- the roster ----------------------------------------------------------------------------


def test_a_roster_names_students_and_adds_those_without_a_folder(tmp_path: Path) -> None:
    (tmp_path / "subs" / "wzhang").mkdir(parents=True)
    (tmp_path / "subs" / "stranger").mkdir()
    roster = tmp_path / "roster.csv"
    roster.write_bytes(
        "\ufefffolder;Student ID;Display name;Email\n"
        "wzhang/;S001;张伟;wz@example.edu\n"
        'ghost;S002;"Doe; Jane";jd@example.edu\n'.encode()
    )
    subs, _ = discover(tmp_path / "subs", [get("rst")], read_roster(str(roster)))
    by = {s.student: s for s in subs}
    assert set(by) == {"wzhang", "stranger", "ghost"}
    w = by["wzhang"].who
    assert w is not None and (w.name, w.student_id, w.email) == ("张伟", "S001", "wz@example.edu")
    assert by["stranger"].flags == ("not in the roster",)
    with pytest.raises(NotRun) as err:
        prepare(by["ghost"])
    assert err.value.verdict is Verdict.MISSING and "Doe; Jane" in err.value.message


def test_a_roster_matches_moodle_and_classroom_by_their_ids(tmp_path: Path) -> None:
    (tmp_path / "Jane Doe_123456_assignsubmission_file_").mkdir()
    rows = parse_roster("student id,name,folder\n123456,Jane Q. Doe,jdoe\n")
    subs, _ = discover(tmp_path, [get("rst")], rows)
    assert [(s.who.name, s.who.student_id) for s in subs if s.who] == [("Jane Q. Doe", "123456")]


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ("", "empty"),
        ("name,email\nJane,j@x\n", "no folder or repository column"),
        ("folder,name\nalice,Alice,extra\n", "line 2 has 3 fields, the header 2"),
        ("folder,name\n,Alice\n", "line 2 has no folder"),
        ("folder\nalice\nalice\n", "line 3 names folder 'alice' again (line 2)"),
    ],
)
def test_a_bad_roster_is_a_usage_error_naming_the_line(body: str, phrase: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_roster(body, "r.csv")
    assert phrase in err.value.message and err.value.message.startswith("--roster r.csv")


def test_a_roster_that_is_not_utf8_or_not_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_bytes(b"folder,name\nalice,Ren\xe9\n")
    with pytest.raises(UsageError, match="not UTF-8 \\(line 2\\)"):
        read_roster(str(tmp_path / "r.csv"))
    with pytest.raises(UsageError, match="a folder"):
        read_roster(str(tmp_path))


# ---- the rule is `python FILE`'s, and `lab check` applies it in the same words ------------------

AGREE_CODECS = ["", "latin-1", "cp1252", "utf-8-sig", "klingon", "hex", "utf-16", "utf_16_le",
                "cp037", "cp424", "shift_jis", "ascii"]  # fmt: skip
AGREE_BODIES = [b"pass\n", b"s = '\xe9\xe9'\n", b"# \xe9\n"]


def runs(path: Path, *how: str) -> bool:
    done = subprocess.run([sys.executable, *how], capture_output=True, timeout=30)
    return done.returncode == 0


@pytest.mark.parametrize("codec", AGREE_CODECS)
def test_run_exactly_when_python_file_and_the_sandbox_both_would(
    tmp_path: Path, codec: str
) -> None:
    """The judges are the interpreter's own two ways in: `python FILE` (lab check) and runpy (the
    sandbox). A file passes the rule exactly when both run it; they disagree on a non-UTF-8
    comment without a coding line and on codecs that are not ASCII-compatible, which it refuses."""
    path = tmp_path / "x.py"
    for body in AGREE_BODIES:
        source = (f"# coding: {codec}\n".encode() if codec else b"") + body
        if codec.startswith("utf-8") and body.startswith(b"#"):
            # both run a comment a declared UTF-8 cannot decode; the rule is stricter, in both
            assert "is not utf-8 as its coding line says" in (problem(source, "x.py") or "")
            continue
        path.write_bytes(source)
        both = runs(path, str(path)) and runs(
            path, "-c", f"import runpy; runpy.run_path({str(path)!r}, run_name='__main__')"
        )
        assert (problem(source, "x.py") is None) == both, (source, problem(source, "x.py"))


@pytest.mark.parametrize(
    ("source", "phrase"),
    [
        (b"# caf\xe9\nprint(1)\n", "rst.py is not UTF-8 (byte 0xe9 on line 1) and has no coding line"),
        (b"#" * (MAX_SOLUTION + 1), "rst.py is larger than 256 KiB"),
    ],
)  # fmt: skip
def test_lab_check_refuses_what_grading_refuses_in_the_same_words(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: bytes,
    phrase: str,
) -> None:
    (tmp_path / "mine").mkdir()
    monkeypatch.chdir(tmp_path / "mine")
    (tmp_path / "mine" / "rst.py").write_bytes(source)
    tmp_path = tmp_path / "class"
    (tmp_path / "alice").mkdir(parents=True)
    (tmp_path / "alice" / "rst.py").write_bytes(source)
    (sub,), _ = discover(tmp_path, [get("rst")])
    with pytest.raises(NotRun) as graded:
        prepare(sub)
    with pytest.raises(SystemExit) as exc:
        main(["lab", "check", "rst", "rst.py"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"error: {phrase}" in err
    assert phrase in graded.value.message and graded.value.verdict is Verdict.REFUSED
    assert err.splitlines()[0] == f"error: {graded.value.message}"


def test_a_bad_roster_stops_grading_before_anything_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    (tmp_path / "r.csv").write_text("name,email\nAlice,a@x\n")
    args = ["grade", str(tmp_path / "subs"), "--lab", "rst", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--roster", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err.splitlines()
    assert exc.value.code == 2 and len(err) == 2
    assert err[0].startswith("error: --roster") and "no folder or repository column" in err[0]
    assert not (tmp_path / "out").exists()


def test_a_canvas_zip_unpacked_into_a_folder_is_its_students(tmp_path: Path) -> None:
    folder = tmp_path / "doejane_1234_98765_lab"
    folder.mkdir()
    (folder / "rst.py").write_text("print(1)\n")
    (tmp_path / "doejane_1234_98766_handshake.py").write_text("print(1)\n")
    subs, _ = discover(tmp_path, [get("handshake"), get("rst")])
    assert {(s.student, s.lab.name, s.path) for s in subs} == {
        ("doejane_1234", "handshake", tmp_path / "doejane_1234_98766_handshake.py"),
        ("doejane_1234", "rst", folder / "rst.py"),
    }


entry_names = file_names.filter(lambda n: len(os.fsencode(n)) <= 255 and not n.startswith("."))


@settings(max_examples=60, deadline=None)
@given(st.lists(entry_names, min_size=1, max_size=8, unique=True))
def test_any_class_folder_has_one_student_per_entry_under_unique_ids(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in names:
            (root / name).mkdir()
        subs, skipped = discover(root, [get("rst")])
        students = {s.student for s in subs}
    layout = [s for s in subs if s.who is not None and s.who.layout in ("moodle", "canvas")]
    assert len(subs) == len(students) <= len(names)  # Moodle's plugin folders may be one
    assert len(students) == len(names) or layout
    assert all(SAFE_ID.fullmatch(s) for s in students)
    reserved = [n for n in names if n.lower() in {"gradebook.csv", "grade.json", "junit.xml"}]
    assert skipped == []  # folders are students, whatever their name
    assert not reserved or all(s not in reserved for s in students)


def test_lab_check_follows_the_users_own_folder_link_but_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "rst.py").write_bytes(b"# caf\xe9\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["lab", "check", "rst", "link/rst.py"])
    assert "error: rst.py is not UTF-8" in capsys.readouterr().err  # read, through the link


CODECS = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values()))


@settings(max_examples=400)
@given(st.sampled_from(["", *CODECS]), st.binary(max_size=200), st.booleans())
def test_no_bytes_and_no_coding_line_make_the_rule_raise(
    codec: str, body: bytes, bom: bool
) -> None:
    source = (b"\xef\xbb\xbf" if bom else b"") + f"# coding: {codec}\n".encode() + body
    why = problem(source, "x.py")
    assert why is None or (why.startswith("x.py") and "\n" not in why)


def test_a_roster_student_has_one_id_with_a_folder_or_without(tmp_path: Path) -> None:
    """Graded before their Classroom repository exists, and after: one student, one row."""
    rows = parse_roster("folder,student id,name\nbob,bob,Bob B\nann,ann,Ann A\n")
    (tmp_path / "hw1-ann").mkdir()
    (tmp_path / "hw1-zed").mkdir()
    before, _ = discover(tmp_path, [get("rst")], rows)
    (tmp_path / "hw1-bob").mkdir()
    after, _ = discover(tmp_path, [get("rst")], rows)
    ids = lambda subs: {s.who.name: s.student for s in subs if s.who}  # noqa: E731
    assert ids(before)["Bob B"] == ids(after)["Bob B"] == "bob"
    assert ids(after)["Ann A"] == "ann"
    assert {s.who.id_source for s in after if s.who and s.who.in_roster} == {"roster"}
