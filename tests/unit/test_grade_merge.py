"""Regrading without loss: a run's outcomes replace only their (student, lab) rows; every other row
of every class file, and every other student's folder, stays byte for byte as it was; each run is
in history.jsonl; an interrupted run is marked partial and the next one finishes it."""

from __future__ import annotations

import csv
import dataclasses
import enum
import json
import os
import signal
import subprocess
import sys
import types
import typing
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tcplab.cli import gradecmd
from tcplab.errors import UsageError
from tcplab.exercise.catalog import get
from tcplab.grade import merge, outputs
from tcplab.grade.merge import ClassRun
from tcplab.grade.outcome import Outcome, Verdict
from tcplab.grade.roster import Student
from tcplab.grade.submission import Submission
from tests.unit.test_grade_outputs import META, class_outcomes, outcome

SETTINGS = ("fall", ["handshake", "teardown"], None)


def run_into(
    out: Path, before: ClassRun | None, new: list[Outcome], unreached: set = frozenset()
) -> ClassRun:
    """What `tcplab grade` does once it has graded `new` (and not `unreached`, if interrupted):
    merge, then write (gradecmd._write)."""
    considered = {(o.student, o.lab) for o in new} | set(unreached)
    after = merge.merged(before, new, SETTINGS, set(unreached), considered)
    meta = {**META, **merge.class_meta(after)}
    entry = merge.history_entry(meta, before, new, replaced=False)
    gradecmd._write(out, after, new, meta, entry)
    return after


def files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def csv_rows(data: bytes) -> dict[tuple[str, str], bytes]:
    """Each gradebook row's bytes by (student, lab), wherever the header puts those columns."""
    lines = data.split(b"\r\n")
    head = lines[0].decode().split(",")
    at = head.index("student"), head.index("lab")
    rows = {}
    for line in lines[1:-1]:
        cells = next(csv.reader([line.decode()]))
        rows[(cells[at[0]], cells[at[1]])] = line
    return rows


def json_rows(data: bytes) -> dict[tuple[str, str], str]:
    doc = json.loads(data)
    text = data.decode()
    rows = {}
    for o in doc["outcomes"]:
        block = json.dumps(o, indent=2).replace("\n", "\n    ")
        assert "    " + block in text  # each row appears in the file exactly as written
        rows[(o["student"], o["lab"])] = block
    return rows


def junit_rows(data: bytes) -> dict[str, bytes]:
    root = ET.fromstring(data)
    return {s.get("name", ""): ET.tostring(s) for s in root}


# ---- an outcome kept whole ---------------------------------------------------------------------


@pytest.mark.parametrize("o", class_outcomes(), ids=lambda o: f"{o.student}-{o.lab}")
def test_an_outcome_comes_back_from_its_record_equal_field_by_field(o):
    again = merge.restore(json.loads(json.dumps(merge.record(o))))
    assert again == o
    assert isinstance(again.verdict, Verdict) and all(
        type(c) is type(o.checks[0]) for c in again.checks
    )


def test_a_record_with_an_unknown_field_and_without_a_new_one_still_restores():
    data = merge.record(class_outcomes()[0])
    data["from_a_newer_tcplab"] = 1
    del data["email"]
    assert merge.restore(data).email == ""


# ---- regrading one student -----------------------------------------------------------------------


def test_regrading_one_student_keeps_every_other_row_and_folder_byte_identical(tmp_path):
    out = tmp_path / "out"
    first = run_into(out, None, class_outcomes())
    before = files(out)
    again = outcome("bob", "handshake", Verdict.SCORED, [True, True, True], wall_s=2.5)
    run_into(out, merge.load(out), [again])
    after = files(out)
    old_csv, new_csv = csv_rows(before["gradebook.csv"]), csv_rows(after["gradebook.csv"])
    assert set(old_csv) == set(new_csv) == set(first.outcomes)
    for key in first.outcomes:
        if key != ("bob", "handshake"):
            assert old_csv[key] == new_csv[key], key
    assert new_csv[("bob", "handshake")] != old_csv[("bob", "handshake")]
    old_json, new_json = json_rows(before["grade.json"]), json_rows(after["grade.json"])
    assert {k for k in old_json if old_json[k] != new_json[k]} == {("bob", "handshake")}
    old_xml, new_xml = junit_rows(before["junit.xml"]), junit_rows(after["junit.xml"])
    assert {k for k in old_xml if old_xml[k] != new_xml[k]} == {"bob/handshake"}
    changed = {name for name in after if before.get(name) != after[name]}
    assert {n for n in changed if "/" not in n} == {*CLASS_FILES, *COURSE_FILES, "history.jsonl"}
    assert {n for n in changed if "/" in n} == {f"bob/{f}" for f in STUDENT_FILES}
    for name in COURSE_FILES:  # a row per student: only bob's changes
        old, new = before[name].split(b"\r\n"), after[name].split(b"\r\n")
        assert len(old) == len(new)
        assert [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [
            i for i, line in enumerate(new) if line.lower().startswith(b"bob,")
        ], name
    bob = json.loads(after["bob/results.json"])
    assert bob["extra_data"]["labs"]["teardown"]["verdict"] == "memory_limit"  # kept, not lost


CLASS_FILES = {"gradebook.csv", "grade.json", "junit.xml"}
COURSE_FILES = ("canvas.csv", "moodle.csv")
STUDENT_FILES = ("results.json", "prairielearn.json", "classroom.json", "report.md", "report.html")


def test_a_merged_run_keeps_the_class_and_history_says_old_and_new(tmp_path):
    out = tmp_path / "out"
    run_into(out, None, class_outcomes())
    again = outcome("dave", "handshake", Verdict.SCORED, [True, True, True])
    run_into(out, merge.load(out), [again])
    doc = json.loads((out / "grade.json").read_text())
    assert len(doc["outcomes"]) == 8
    history = merge.read_history(out)
    assert [len(h["graded"]) for h in history] == [8, 1]
    assert history[1]["graded"][0] == {
        "student": "dave", "name": "dave", "lab": "handshake",
        "old": {"score": 5, "verdict": "time_limit"}, "new": {"score": 10, "verdict": "scored"},
    }  # fmt: skip
    assert [(h["run"], h["graded"], h["changed"]) for h in doc["history"]] == [(1, 8, 0), (2, 1, 1)]
    Draft202012Validator(outputs.schema("grade")).validate(doc)


def test_a_torn_last_history_line_is_skipped(tmp_path):
    merge.append_history(tmp_path, {"graded": []})
    with (tmp_path / merge.HISTORY).open("a") as f:
        f.write('{"graded": [{"stud')
    assert merge.read_history(tmp_path) == [{"graded": []}]


# ---- an interrupted run --------------------------------------------------------------------------


def test_an_interrupted_run_is_partial_and_the_next_grades_only_what_is_missing(tmp_path):
    out = tmp_path / "out"
    everything = class_outcomes()
    keys = {(o.student, o.lab) for o in everything}
    done, left = everything[:3], everything[3:]
    unreached = keys - {(o.student, o.lab) for o in done}
    first = run_into(out, None, done, unreached)
    doc = json.loads((out / "grade.json").read_text())
    assert doc["meta"]["interrupted"] is True and len(doc["outcomes"]) == 3  # no fake rows
    assert b"partial" in (out / "junit.xml").read_bytes()
    assert {tuple(k) for k in doc["meta"]["not_graded"]} == unreached
    todo = merge.still_to_grade(merge.load(out), sorted(keys))
    assert set(todo) == unreached | {("carol", "handshake")}  # and the environment error
    second = run_into(out, merge.load(out), [o for o in left if (o.student, o.lab) in todo])
    assert not second.interrupted and first.interrupted
    doc = json.loads((out / "grade.json").read_text())
    assert doc["meta"]["interrupted"] is False and len(doc["outcomes"]) == 8
    assert b"partial" not in (out / "junit.xml").read_bytes()


def test_a_run_of_some_students_leaves_the_others_pending():
    run = ClassRun("s", ["handshake"], None, pending={("a", "handshake"), ("b", "handshake")})
    new = [outcome("a", "handshake", Verdict.SCORED, [True, True, True])]
    after = merge.merged(run, new, ("s", ["handshake"], None), set(), {("a", "handshake")})
    assert after.pending == {("b", "handshake")}
    both, b = {("a", "handshake"), ("b", "handshake")}, {("b", "handshake")}
    stopped = merge.merged(after, [], ("s", ["handshake"], None), b, both)  # interrupted again
    assert stopped.pending == b and stopped.interrupted
    done = [outcome("b", "handshake", Verdict.SCORED, [True, True, False])]
    assert not merge.merged(stopped, done, ("s", ["handshake"], None), set(), both).pending


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_the_files_are_written_waits_for_them(sig):
    written, before = [], signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), gradecmd._interrupts_held():
        os.kill(os.getpid(), sig)
        written.append("all")
    assert written == ["all"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "gradebook.csv"
    path.write_bytes(b"old")

    real = Path.write_bytes

    def torn(self: Path, data: bytes) -> int:
        real(self, data[:3])  # half written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", torn)
    with pytest.raises(KeyboardInterrupt):
        merge.write_atomic(path, b"new contents")
    monkeypatch.undo()
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["gradebook.csv"]


# ---- when a run may merge ------------------------------------------------------------------------


def test_a_run_of_other_labs_or_another_labs_folder_is_a_usage_error_unless_forced():
    run = ClassRun("s", ["handshake", "rst"], None)
    merge.compatible(run, ["rst"], None, force=False)
    with pytest.raises(UsageError, match="not on time-wait") as err:
        merge.compatible(run, ["rst", "time-wait"], None, force=False)
    assert "--replace" in err.value.hint
    with pytest.raises(UsageError, match="labs from tcplab itself, not from /course"):
        merge.compatible(run, ["rst"], "/course", force=False)
    merge.compatible(run, ["time-wait"], "/course", force=True)


def test_a_run_of_an_older_tcplab_cannot_be_merged_into(tmp_path):
    (tmp_path / "gradebook.csv").write_text("student,lab\n")
    with pytest.raises(UsageError, match="without tcplab's record") as err:
        merge.load(tmp_path)
    assert "--replace" in err.value.hint
    assert merge.load(tmp_path / "nothing-here") is None


def test_a_damaged_record_is_a_usage_error(tmp_path):
    (tmp_path / merge.STATE).write_text('{"format": 1, "outcomes": [')
    with pytest.raises(UsageError, match="cannot be read"):
        merge.load(tmp_path)


def test_the_class_keeps_its_seed_labs_and_folder_when_a_run_merges():
    kept = outcome("alice", "handshake", Verdict.SCORED, [True, True, True])
    run = ClassRun("class-seed", ["handshake", "rst"], "/course", {("alice", "handshake"): kept})
    new = [replace(kept, student="bob")]
    after = merge.merged(run, new, ("other", ["time-wait"], "/elsewhere"), set(), set())
    assert (after.seed, after.labs, after.labs_dir) == (
        "class-seed", ["handshake", "rst", "time-wait"], "/course",
    )  # fmt: skip


# ---- the command's choices -----------------------------------------------------------------------


def test_student_names_select_their_submissions_and_an_unknown_one_is_a_usage_error():
    lab = get("handshake")
    subs = [Submission(s, lab, None) for s in ("alice", "bob", "carol")]
    assert [s.student for s in gradecmd.select(subs, ["bob", "alice"])] == ["alice", "bob"]
    assert gradecmd.select(subs, []) == subs
    with pytest.raises(UsageError, match="--student bobb: no such student folder") as err:
        gradecmd.select(subs, ["bobb"])
    assert "did you mean bob?" in err.value.hint


def test_an_interrupted_class_grades_only_what_it_has_no_score_for():
    lab = get("handshake")
    subs = [Submission(s, lab, None) for s in ("alice", "bob", "carol")]
    kept = outcome("alice", "handshake", Verdict.SCORED, [True, True, True])
    broken = outcome("bob", "handshake", Verdict.ENVIRONMENT_ERROR, None)
    rows = {("alice", "handshake"): kept, ("bob", "handshake"): broken}
    run = ClassRun("s", ["handshake"], None, rows, pending={("carol", "handshake")})
    assert [s.student for s in merge.to_grade(subs, run, named=False)] == ["bob", "carol"]
    assert merge.to_grade(subs, run, named=True) == subs  # students named: graded again
    run.pending.clear()
    assert merge.to_grade(subs, run, named=False) == subs  # a whole class: graded again


def test_replace_removes_the_folders_of_students_no_more_in_the_class(tmp_path):
    out = tmp_path / "out"
    old = run_into(out, None, class_outcomes())
    (out / "zed").mkdir()  # not tcplab's: not in the record, left alone
    new = merge.merged(None, [class_outcomes()[0]], SETTINGS, set(), set())
    merge.remove_folders(out, old, new)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["bob", "zed"]


def test_two_runs_cannot_write_into_one_class_at_once(tmp_path):
    merge.hold(tmp_path)
    other = subprocess.run(
        [sys.executable, "-c", f"from tcplab.grade import merge; merge.hold({str(tmp_path)!r})"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert other.returncode != 0 and "another tcplab grade is writing into it" in other.stderr
    assert os.listdir(tmp_path) == []  # the lock is on the folder: nothing is made in it
    os.close(merge._HELD.pop(tmp_path))
    free = subprocess.run(
        [sys.executable, "-c", f"from tcplab.grade import merge; merge.hold({str(tmp_path)!r})"],
        check=False,
    )
    assert free.returncode == 0


JSON_ATOMS = {str, int, float, bool, type(None), typing.Any}


def kept_whole(hint: object, seen: tuple = ()) -> list[str]:
    """The parts of a type hint that record/restore would not bring back as they were."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in JSON_ATOMS:
        return []
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        return [bad for a in args if a is not Ellipsis for bad in kept_whole(a, seen)]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return []
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and hint not in seen:
        hints = typing.get_type_hints(hint)
        return [bad for f in dataclasses.fields(hint) if f.name != "report"
                for bad in kept_whole(hints[f.name], (*seen, hint))]  # fmt: skip
    return [repr(hint)]


def test_every_field_an_outcome_has_comes_back_from_its_record():
    """A field someone adds to Outcome (or to what it holds) must be JSON, an enum or a dataclass
    of those, or a regrade could not write the other students' rows byte for byte again."""
    assert kept_whole(Outcome) == []


def test_similarity_is_worked_out_again_only_for_a_lab_whose_whole_class_is_here():
    lab = get("handshake")
    rows = {
        (s, "handshake"): outcome(s, "handshake", Verdict.SCORED, [True, True, True])
        for s in ("alice", "bob")
    }
    after = ClassRun("s", ["handshake"], None, rows)

    def here(*students: str) -> list[Submission]:
        return [Submission(s, lab, None) for s in students]

    assert merge.whole_labs(here("bob"), [lab], after) == []  # a folder of one: the hints stay
    assert merge.whole_labs(here("alice", "bob", "carol"), [lab], after) == [lab]


@given(
    text=st.text(max_size=40),
    wall=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    score=st.one_of(st.none(), st.integers(0, 10)),
)
@settings(max_examples=200, deadline=None)
def test_any_text_and_figures_come_back_from_the_record_and_write_the_same_bytes(text, wall, score):
    o = outcome(
        "amy", "handshake", Verdict.RUNTIME_ERROR, [True, False, True], message=text,
        stdout=text, stderr=text, wall_s=wall, score=score, ladder_text=text, ladder_html=text,
    )  # fmt: skip
    kept = json.dumps(merge.ClassRun("s", [], None, {("amy", "x"): o}).to_json())
    again = merge.restore(json.loads(kept)["outcomes"][0])
    assert again == o
    assert outputs.gradebook_rows([again]) == outputs.gradebook_rows([o])
    assert outputs.junit_xml([again]) == outputs.junit_xml([o])
    assert outputs.report_html([again], META) == outputs.report_html([o], META)


def test_student_is_named_by_the_real_folder_name_too():
    lab = get("handshake")
    who = Student("Jose-Garcia-978edf99a5", "José García", folder="José García")
    subs = [Submission(who.id, lab, None, who=who), Submission("bob", lab, None)]
    assert [s.student for s in gradecmd.select(subs, ["José García"])] == [who.id]
    assert [s.student for s in gradecmd.select(subs, [who.id])] == [who.id]


def test_a_regrade_that_learnt_nothing_of_the_student_keeps_who_the_class_knew(tmp_path):
    out = tmp_path / "out"
    known = replace(
        outcome("bob", "handshake", Verdict.SCORED, [True, False, False]),
        name="Bob B", student_id="S-7", email="b@x", id_from="roster",
    )  # fmt: skip
    first = run_into(out, None, [known])
    again = outcome("bob", "handshake", Verdict.SCORED, [True, True, True])  # no roster this time
    after = run_into(out, merge.load(out), [again])
    o = after.outcomes[("bob", "handshake")]
    assert (o.name, o.student_id, o.email, o.id_from) == ("Bob B", "S-7", "b@x", "roster")
    assert o.score != first.outcomes[("bob", "handshake")].score


def test_the_class_keeps_its_roster_and_its_excel_choice(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("folder,name\nbob,Bob\n")
    out = tmp_path / "out"
    after = merge.merged(None, [outcome("bob", "handshake", Verdict.SCORED, [True] * 3)],
                         SETTINGS, set(), set())  # fmt: skip
    after.roster, after.excel = str(roster), True
    out.mkdir()
    merge.save(out, after)
    again = merge.load(out)
    assert again is not None and (again.roster, again.excel) == (str(roster), True)
    assert merge.class_roster(out) == str(roster)
    kept = merge.merged(again, [], SETTINGS, set(), set())
    assert (kept.roster, kept.excel) == (str(roster), True)
    roster.unlink()
    assert merge.class_roster(out) is None  # gone: the regrade names students by their folders
