"""Course files: Canvas's and Moodle's grade imports, gradebook.csv for Excel, GitHub Classroom's
shown total equal to its recorded one, and per-check visibility in every file a student gets."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcplab.exercise.kit import Checklist, Fail, Pass, ScoredCheck, Visibility
from tcplab.grade import courses, outputs
from tcplab.grade.outcome import Outcome, Verdict

META = {"labs": ["handshake", "rst"], "tcplab_version": "0.1.0", "seed": "s"}
CJK = "张伟 (Zhāng Wěi)"


def outcome(student: str, lab: str, score: int | None, max_score: int = 10, **kw) -> Outcome:
    verdict = kw.pop("verdict", Verdict.SCORED if score is not None else Verdict.ENVIRONMENT_ERROR)
    return Outcome(student, lab, lab.title(), verdict, "ran to the end", max_score, score, **kw)


def klass() -> list[Outcome]:
    who = {"name": CJK, "student_id": "s-1001", "email": "zw@uni.example", "id_from": "roster"}
    hostile = {"name": "=HYPERLINK(1)", "student_id": "s-1002", "email": "", "id_from": "roster"}
    return [
        outcome("s001", "handshake", 10, **who),
        outcome("s001", "rst", 4, **who),
        outcome("s002", "handshake", None, **hostile),
        outcome("s002", "rst", 0, verdict=Verdict.MISSING, **hostile),
    ]


def read_csv(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.reader(f))


# ---- Canvas, Moodle, Excel -------------------------------------------------------------------


def test_canvas_csv_has_canvas_columns_points_possible_and_one_row_per_student(tmp_path):
    courses.write_course_files(tmp_path, klass(), META)
    rows = read_csv(tmp_path / "canvas.csv")
    assert rows[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "handshake",
        "rst",
    ]
    assert rows[1] == ["Points Possible", "", "", "", "", "10", "10"]
    assert rows[2] == ["'=HYPERLINK(1)", "", "s-1002", "", "", "", "0"]  # not graded: empty
    assert rows[3] == [CJK, "", "s-1001", "zw@uni.example", "", "10", "4"]
    assert len(rows) == 4


def test_moodle_csv_has_identifiers_to_map_and_a_feedback_column_per_lab(tmp_path):
    courses.write_course_files(tmp_path, klass(), META)
    rows = read_csv(tmp_path / "moodle.csv")
    assert rows[0] == [
        "Full name", "ID number", "Email address",
        "handshake", "handshake (feedback)", "rst", "rst (feedback)",
    ]  # fmt: skip
    zw = next(r for r in rows if r[1] == "s-1001")
    assert zw[:4] == [CJK, "s-1001", "zw@uni.example", "10"]
    assert zw[4] == "10/10, scored: ran to the end"
    other = next(r for r in rows if r[1] == "s-1002")
    assert other[3] == "" and other[4].startswith("not graded, environment error")
    assert other[5:] == ["0", "0/10, missing: ran to the end"]


def test_excel_option_gives_gradebook_a_bom_that_excel_and_utf8_sig_read(tmp_path):
    outputs.write_all(tmp_path, klass(), META)
    courses.write_course_files(tmp_path, klass(), META, excel=True)
    courses.write_course_files(tmp_path, klass(), META, excel=True)  # a second run adds no second
    data = (tmp_path / "gradebook.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfstudent,") and data.count(b"\xef\xbb\xbf") == 1
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0]["student"] == "s001" and len(rows) == 4
    assert not (tmp_path / "canvas.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert CJK in (tmp_path / "canvas.csv").read_text(encoding="utf-8")


def test_without_excel_gradebook_has_no_bom(tmp_path):
    outputs.write_all(tmp_path, klass(), META)
    courses.write_course_files(tmp_path, klass(), META)
    assert (tmp_path / "gradebook.csv").read_bytes().startswith(b"student,")


# ---- GitHub Classroom: the total shown is the total recorded ---------------------------------


def reporter(result: dict) -> tuple[str, str, float]:
    """What autograding-grading-reporter (src/helpers/test-helpers.js, console-results.js,
    notify-classroom.js) does with one runner's result: the log's "Total points for RUNNER: X/M"
    is (tests passed / tests) * max_score with toFixed(2); the points recorded in Classroom are
    the sum of the tests' scores over max_score. Returns (logged, recorded, the table's number)."""
    tests, most = result["tests"], result["max_score"]
    passed = sum(t["status"] == "pass" for t in tests)
    shown = (passed / len(tests)) * (most or 0)
    recorded = sum(t["score"] for t in tests)
    return f"{shown:.2f}/{most}", f"{recorded:.2f}/{most}", shown


def checks(points: list[int], oks: list[bool], hidden: int = -1) -> list[ScoredCheck]:
    return [
        ScoredCheck(
            f"check {i}", p, p if ok else 0, ok, "why", "" if ok else "hint", "seen",
            visibility=Visibility.HIDDEN if i == hidden else Visibility.VISIBLE,
        )
        for i, (p, ok) in enumerate(zip(points, oks, strict=True))
    ]  # fmt: skip


def test_the_issue_case_shows_14_of_37_not_30_27():
    # 37 points, 14 earned over many small passing checks and a few large failing ones
    labs = [
        outcome("a", "handshake", 6, 17, checks=checks([1] * 6 + [11], [True] * 6 + [False])),
        outcome("a", "rst", 8, 20, checks=checks([1] * 8 + [12], [True] * 8 + [False])),
    ]
    logged, recorded, _ = reporter(outputs.classroom_results(labs))
    assert logged == recorded == "14.00/37"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 7), st.booleans()), min_size=0, max_size=6),
        min_size=1, max_size=3,
    ),
    st.sampled_from(list(Verdict)),
)  # fmt: skip
def test_classroom_log_total_equals_recorded_total_for_any_outcomes(labs, verdict):
    outcomes = []
    for i, spec in enumerate(labs):
        rows = checks([p for p, _ in spec], [ok for _, ok in spec], hidden=0)
        earned = sum(r.earned for r in rows)
        most = sum(r.points for r in rows)
        if verdict is Verdict.ENVIRONMENT_ERROR:
            o = outcome("a", f"lab{i}", None, most, verdict=verdict)
        elif verdict in (Verdict.MISSING, Verdict.REFUSED, Verdict.MISNAMED):
            o = outcome("a", f"lab{i}", 0, most, verdict=verdict)
        else:
            o = outcome("a", f"lab{i}", earned, most, verdict=verdict, checks=rows)
        outcomes.append(o)
    result = outputs.classroom_results(outcomes)
    outputs_ok = outputs.schema("classroom")
    from jsonschema import Draft202012Validator

    Draft202012Validator(outputs_ok).validate(result)
    logged, recorded, shown = reporter(result)
    assert logged == recorded
    assert abs(shown - sum(o.score or 0 for o in outcomes)) < 1e-9
    assert result["max_score"] == sum(o.max_score for o in outcomes)


def test_every_score_up_to_100_points_logs_what_is_recorded():
    for most in range(1, 101):
        for earned in range(most + 1):
            o = outcome("a", "handshake", earned, most)  # no checks: one test per point
            logged, recorded, _ = reporter(outputs.classroom_results([o]))
            assert logged == recorded, (earned, most)


def test_a_run_with_no_points_has_one_test_so_the_log_divides_by_one():
    result = outputs.classroom_results([outcome("a", "handshake", 0, 0)])
    assert len(result["tests"]) == 1 and reporter(result)[:2] == ("0.00/0", "0.00/0")


# ---- visibility ---------------------------------------------------------------------------------


def judged(points: int = 3) -> list[ScoredCheck]:
    checks = Checklist()

    @checks.add("visible one", 2, hints=("look at the SYN",), why="the SYN opens")
    def first(obs):
        return Fail("seq was 17", cause="isn")

    @checks.add("secret isn", points, hints=("the ISN",), why="secret", visibility="hidden")
    def second(obs):
        return Pass("isn 4242 seen")

    @checks.add("later", 1, why="later", visibility=Visibility.AFTER_DUE_DATE)
    def third(obs):
        return Fail("seq was 17 again", cause="isn")

    return checks.run(object())


def test_a_check_declares_its_visibility_and_a_bad_one_is_refused():
    rows = judged()
    assert [r.visibility for r in rows] == [
        Visibility.VISIBLE, Visibility.HIDDEN, Visibility.AFTER_DUE_DATE,
    ]  # fmt: skip
    assert rows[1].to_json()["visibility"] == "hidden"
    with pytest.raises(ValueError, match="visibility 'secret' is not one of visible"):
        Checklist().add("x", 1, visibility="secret")


def test_a_hidden_check_shows_students_its_points_and_nothing_else():
    hidden = judged()[1].for_students()
    assert (hidden.title, hidden.earned, hidden.points) == ("hidden check", 3, 3)
    assert hidden.detail == hidden.why == hidden.hint == ""
    assert judged()[0].for_students() is not None and judged()[0].for_students().title == (
        "visible one"
    )


def test_a_visible_check_never_names_a_hidden_one():
    checks = Checklist()

    @checks.add("secret", 1, visibility="hidden")
    def secret(obs):
        return Fail("no", cause="c")

    @checks.add("shown", 1, needs=["secret"])
    def shown(obs):
        return Fail("no", cause="c")

    rows = checks.run(object())
    assert "secret" not in rows[1].detail and "hidden check" in rows[1].detail


def student_files(tmp_path: Path) -> Path:
    rows = judged()
    o = outcome("s001", "handshake", sum(r.earned for r in rows), 6, checks=rows)
    outputs.write_all(tmp_path, [o], META)
    return tmp_path / "s001"


def test_gradescope_carries_each_checks_visibility(tmp_path):
    tests = json.loads((student_files(tmp_path) / "results.json").read_text())["tests"]
    assert [t["visibility"] for t in tests] == ["visible", "hidden", "after_due_date"]


def test_prairielearn_folds_hidden_checks_into_one_line_of_points(tmp_path):
    data = json.loads((student_files(tmp_path) / "prairielearn.json").read_text())
    names = [t["name"] for t in data["tests"]]
    assert names == ["handshake: visible one", "handshake: hidden checks"]
    folded = data["tests"][1]
    assert (folded["points"], folded["max_points"], folded["output"]) == (3, 4, "")
    assert data["score"] == pytest.approx(3 / 6)
    assert "secret" not in json.dumps(data) and "4242" not in json.dumps(data)


@pytest.mark.parametrize("name", ["report.md", "report.html", "classroom.json"])
def test_student_files_do_not_detail_hidden_checks(tmp_path, name):
    page = (student_files(tmp_path) / name).read_text()
    assert "hidden check" in page
    for secret in ("secret isn", "4242", "the ISN", "later", "seq was 17 again"):
        assert secret not in page, secret


def test_grade_json_and_junit_keep_hidden_checks_in_full_for_the_instructor(tmp_path):
    student_files(tmp_path)
    grade = (tmp_path / "grade.json").read_text()
    assert "secret isn" in grade and "4242" in grade and '"visibility": "hidden"' in grade
    assert "secret isn" in (tmp_path / "junit.xml").read_text()


def test_lab_check_keeps_no_hidden_check_title_in_the_students_attempts_file(tmp_path):
    from tcplab.exercise.attempts import Attempts

    Attempts(tmp_path).update("handshake", judged())
    saved = (tmp_path / "attempts.json").read_text()
    assert "visible one" in saved and "secret isn" not in saved and "later" not in saved


def test_an_id_from_a_download_layout_goes_where_that_platform_reads_it():
    """Canvas's user id (from its file names) is Canvas's `ID`, not the course's SIS id; Moodle's
    participant number is no `ID number`: only a roster's id is the course's own."""
    canvas = outcome("smithjane", "handshake", 7, student_id="48213", id_from="canvas")
    moodle = outcome("mary", "handshake", 7, name="Mary", student_id="123456", id_from="moodle")
    roster = outcome("bob", "handshake", 7, name="Bob", student_id="S-1", id_from="roster")
    meta = {"labs": ["handshake"]}
    rows = {r[0]: r for r in courses.canvas_rows([canvas, moodle, roster], meta)[2:]}
    assert rows["smithjane"][1:3] == ["48213", ""]
    assert rows["Mary"][1:3] == ["", ""]
    assert rows["Bob"][1:3] == ["", "S-1"]
    mrows = {r[0]: r for r in courses.moodle_rows([canvas, moodle, roster], meta)[1:]}
    assert [mrows[n][1] for n in ("smithjane", "Mary", "Bob")] == ["", "", "S-1"]
