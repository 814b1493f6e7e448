"""The grader's outputs: every JSON file matches its schema, the scores add up the way each course
tool reads them, and nothing a student prints can break the XML, the HTML or the Markdown."""

from __future__ import annotations

import csv
import json
import re
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tcplab.errors import UsageError
from tcplab.exercise.kit import ScoredCheck
from tcplab.grade import outputs
from tcplab.grade.outcome import Outcome, Verdict

HOSTILE = "oops </pre><script>alert(1)</script> ```` `` ` \x00\x07\x1b[31m\x0c end"
META = {
    "tcplab_version": "0.1.0",
    "kernel": "6.8.0-test",
    "seed": 42,
    "labs": ["handshake", "teardown"],
    "started": "2025-01-10T09:00:00Z",
    "finished": "2025-01-10T09:05:00Z",
    "jobs": 4,
    "limits": {"wall_s": 30, "memory_mib": 256},
    "sysctl": {"net.ipv4.tcp_syn_retries": "6"},
}
CHECKS = {
    "handshake": [("sends a SYN", 2), ("completes the handshake", 3), ("uses the ISN", 5)],
    "teardown": [("sends a FIN", 4), ("reaches TIME_WAIT", 6)],
}
TITLES = {"handshake": "Three-way handshake", "teardown": "Closing a connection"}
JSON_FILES = {
    "results.json": "gradescope",
    "prairielearn.json": "prairielearn",
    "classroom.json": "classroom",
}


def results(lab: str, oks: list[bool], detail: str = "seq 1001") -> list[ScoredCheck]:
    return [
        ScoredCheck(
            title, pts, pts if ok else 0, ok, f"why {title}", "" if ok else f"hint {title}", detail
        )
        for (title, pts), ok in zip(CHECKS[lab], oks, strict=True)
    ]


def outcome(student: str, lab: str, verdict: Verdict, oks: list[bool] | None, **kw) -> Outcome:
    checks = results(lab, oks) if oks is not None else []
    score = None if verdict is Verdict.ENVIRONMENT_ERROR else sum(r.earned for r in checks)
    fields = {
        "message": f"{verdict.value} message",
        "max_score": 10,
        "score": score,
        "checks": checks,
        "wall_s": 1.25,
        "cpu_s": 0.5,
        "peak_memory": 30 * 1024 * 1024,
        "exit_code": 0,
        "pcap": f"{student}/{lab}.pcap",
        "ladder_text": "SYN ->\n<- SYN+ACK",
        "ladder_html": '<pre class="ladder">SYN &rarr;</pre>',
        "ports": [40000, 40001],
        "isn": 1000,
        "environment": {"kernel": "6.8.0-test"},
    }
    fields.update(kw)
    return Outcome(student=student, lab=lab, lab_title=TITLES[lab], verdict=verdict, **fields)


def class_outcomes() -> list[Outcome]:
    """Every verdict once: alice does well, bob and dave fail, carol meets a broken grader."""
    return [
        outcome("bob", "teardown", Verdict.MEMORY_LIMIT, [True, False], signal=9, exit_code=None),
        outcome("alice", "teardown", Verdict.SCORED, [True, False]),
        outcome("alice", "handshake", Verdict.SCORED, [True, True, True], flags=["a copy"]),
        outcome(
            "bob", "handshake", Verdict.RUNTIME_ERROR, [True, False, False], stderr=HOSTILE,
            stdout=HOSTILE, exit_code=1, ladder_text="", ladder_html="",
        ),
        outcome("carol", "handshake", Verdict.ENVIRONMENT_ERROR, None, pcap=None, ladder_html=""),
        outcome("carol", "teardown", Verdict.MISSING, None, pcap=None, exit_code=None),
        outcome("dave", "handshake", Verdict.TIME_LIMIT, [True, True, False]),
        outcome("dave", "teardown", Verdict.INVALID, None, pcap=None, exit_code=None),
    ]  # fmt: skip


@pytest.fixture
def graded(tmp_path: Path) -> tuple[Path, list[Outcome], list[Path]]:
    outcomes = class_outcomes()
    return tmp_path / "out", outcomes, outputs.write_all(tmp_path / "out", outcomes, META)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def validate(data: dict, name: str) -> None:
    Draft202012Validator(outputs.schema(name)).validate(data)


def mine(outcomes: list[Outcome], student: str) -> list[Outcome]:
    """The student's outcomes in the run's lab order, as their files list them."""
    ours = [o for o in outcomes if o.student == student]
    return sorted(ours, key=lambda o: META["labs"].index(o.lab))


# ---- the files and their schemas -----------------------------------------------------------


def test_write_all_writes_the_class_files_and_five_per_student(graded):
    out, _, paths = graded
    names = {str(p.relative_to(out)) for p in paths}
    per_student = {
        "results.json",
        "prairielearn.json",
        "classroom.json",
        "report.md",
        "report.html",
    }
    expected = {"gradebook.csv", "grade.json", "junit.xml"}
    expected |= {f"{s}/{f}" for s in ("alice", "bob", "carol", "dave") for f in per_student}
    assert names == expected
    assert all(p.is_file() for p in paths)


@pytest.mark.parametrize("name", outputs.SCHEMAS)
def test_every_schema_is_valid_draft_2020_12_with_its_source(name):
    doc = outputs.schema(name)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] and doc["title"] and doc["description"]


def test_unknown_schema_name_is_refused():
    with pytest.raises(UsageError, match="no schema named"):
        outputs.schema("../outcome")


def test_every_json_file_validates_against_its_schema(graded):
    out, _, _ = graded
    validate(load(out / "grade.json"), "grade")
    for student in ("alice", "bob", "carol", "dave"):
        for file, name in JSON_FILES.items():
            validate(load(out / student / file), name)


def test_an_empty_run_writes_only_the_class_files(tmp_path):
    paths = outputs.write_all(tmp_path / "out", [], META)
    assert [p.name for p in paths] == ["gradebook.csv", "grade.json", "junit.xml"]
    validate(load(tmp_path / "out" / "grade.json"), "grade")
    assert ET.parse(tmp_path / "out" / "junit.xml").getroot().get("tests") == "0"


# ---- gradebook.csv and grade.json ----------------------------------------------------------


def test_gradebook_has_exact_columns_sorted_rows_and_empty_score_for_environment_error(graded):
    out, outcomes, _ = graded
    with (out / "gradebook.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == outputs.GRADEBOOK_COLUMNS
    assert [(r["student"], r["lab"]) for r in rows] == sorted((o.student, o.lab) for o in outcomes)
    by_key = {(r["student"], r["lab"]): r for r in rows}
    assert by_key["carol", "handshake"]["score"] == ""
    assert by_key["carol", "handshake"]["verdict"] == "environment_error"
    assert by_key["alice", "handshake"] | {"message": ""} == {
        "student": "alice", "lab": "handshake", "score": "10", "max_score": "10",
        "verdict": "scored", "message": "", "wall_s": "1.250", "cpu_s": "0.500",
        "peak_memory_mib": "30.0", "full_marks": "true",
    }  # fmt: skip
    assert by_key["alice", "teardown"]["score"] == "4"
    assert by_key["alice", "teardown"]["full_marks"] == "false"


def test_gradebook_message_is_one_line_and_never_a_spreadsheet_formula(tmp_path):
    o = outcome("erin", "handshake", Verdict.RUNTIME_ERROR, [False] * 3, message="=HYPERLINK(1)\nx")
    outputs.write_gradebook(tmp_path, [o])
    row = next(csv.DictReader((tmp_path / "gradebook.csv").open(newline="")))
    assert row["message"] == "'=HYPERLINK(1) x"


def test_grade_json_records_meta_every_outcome_and_totals(graded):
    out, outcomes, _ = graded
    data = load(out / "grade.json")
    assert data["meta"] == META
    assert [(o["student"], o["lab"]) for o in data["outcomes"]] == sorted(
        (o.student, o.lab) for o in outcomes
    )
    assert data["totals"] == {
        "submissions": 8,
        "by_verdict": {
            "scored": 2, "time_limit": 1, "memory_limit": 1,
            "runtime_error": 1, "environment_error": 1, "missing": 1, "misnamed": 0,
            "refused": 0, "invalid": 1,
        },
        "full_marks": 1,
        "environment_errors": 1,
        "flagged": 1,
    }  # fmt: skip


# ---- junit.xml -----------------------------------------------------------------------------


def test_junit_counts_match_the_elements(graded):
    out, outcomes, _ = graded
    root = ET.parse(out / "junit.xml").getroot()
    assert root.tag == "testsuites" and root.get("name") == "tcplab grade"
    for el in [root, *root.iter("testsuite")]:
        assert int(el.get("tests")) == len(list(el.iter("testcase")))
        assert int(el.get("failures")) == len(list(el.iter("failure")))
        assert int(el.get("errors")) == len(list(el.iter("error")))
    assert len(root.findall("testsuite")) == len(outcomes)
    assert root.get("tests") == str(3 + 2 + 3 + 2 + 1 + 1 + 3 + 1)
    assert root.get("errors") == "1"


def test_junit_failed_check_carries_hint_and_detail(graded):
    out, _, _ = graded
    root = ET.parse(out / "junit.xml").getroot()
    suite = root.find("testsuite[@name='alice/teardown']")
    case = suite.find("testcase[@name='reaches TIME_WAIT']")
    assert case.get("classname") == "alice.teardown"
    failure = case.find("failure")
    assert failure.get("message") == "hint reaches TIME_WAIT"
    assert failure.text == "seq 1001"
    assert suite.find("testcase[@name='sends a FIN']/failure") is None


def test_junit_environment_error_is_an_error_and_missing_a_failure(graded):
    out, _, _ = graded
    root = ET.parse(out / "junit.xml").getroot()
    env = root.find("testsuite[@name='carol/handshake']")
    missing = root.find("testsuite[@name='carol/teardown']")
    assert [c.get("name") for c in env.iter("testcase")] == ["graded"]
    assert env.find("testcase/error") is not None and env.find("testcase/failure") is None
    assert [c.get("name") for c in missing.iter("testcase")] == ["graded"]
    assert missing.find("testcase/failure").get("type") == "missing"


def test_junit_keeps_student_output_without_forbidden_characters(graded):
    out, _, _ = graded
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite[@name='bob/handshake']")
    expected = outputs.clean(HOSTILE)
    assert "\x00" not in expected and "\x1b" not in expected
    assert suite.find("system-err").text == expected
    assert suite.find("system-out").text == expected


# ---- the course tools' files ---------------------------------------------------------------


@pytest.mark.parametrize("student", ["alice", "bob", "carol", "dave"])
def test_gradescope_score_is_the_sum_of_test_scores_and_tests_are_earned_points(graded, student):
    out, outcomes, _ = graded
    data = load(out / student / "results.json")
    assert data["score"] == sum(t["score"] for t in data["tests"])
    assert data["score"] == sum(o.score or 0 for o in mine(outcomes, student))
    checks = [r for o in mine(outcomes, student) if o.checks for r in o.checks]
    graded_tests = [t for t in data["tests"] if not t["name"].endswith(": graded")]
    assert [t["score"] for t in graded_tests] == [r.earned for r in checks]
    assert [t["max_score"] for t in graded_tests] == [r.points for r in checks]


def test_gradescope_tests_are_named_numbered_and_tagged_by_lab(graded):
    out, _, _ = graded
    data = load(out / "alice" / "results.json")
    assert [t["number"] for t in data["tests"]] == ["1.1", "1.2", "1.3", "2.1", "2.2"]
    assert data["tests"][0]["name"] == "handshake: sends a SYN"
    assert data["tests"][4]["tags"] == ["teardown"]
    assert data["tests"][4]["status"] == "failed"
    assert "hint reaches TIME_WAIT" in data["tests"][4]["output"]
    assert data["execution_time"] == 2 and data["stdout_visibility"] == "hidden"
    assert data["extra_data"]["labs"]["teardown"]["verdict"] == "scored"


def test_gradescope_environment_error_is_one_zero_test_and_promises_a_regrade(graded):
    out, _, _ = graded
    data = load(out / "carol" / "results.json")
    env = data["tests"][0]
    assert (env["name"], env["score"], env["max_score"]) == ("handshake: graded", 0, 10)
    assert "graded again" in data["output"]
    assert "environment error" in data["output"]


@pytest.mark.parametrize("student", ["alice", "bob", "carol", "dave"])
def test_classroom_test_scores_add_up_to_earned_and_max_score_to_total(graded, student):
    out, outcomes, _ = graded
    data = load(out / student / "classroom.json")
    ours = mine(outcomes, student)
    assert sum(t["score"] for t in data["tests"]) == sum(o.score or 0 for o in ours)
    assert data["max_score"] == sum(o.max_score for o in ours) == 20
    assert all(t["line_no"] == 0 and t["execution_time"].endswith("s") for t in data["tests"])


def test_classroom_status_is_error_on_environment_error_else_fail_below_full_marks(
    graded, tmp_path
):
    out, _, _ = graded
    assert load(out / "carol" / "classroom.json")["status"] == "error"
    assert load(out / "alice" / "classroom.json")["status"] == "fail"
    perfect = [
        outcome("erin", "handshake", Verdict.SCORED, [True] * 3),
        outcome("erin", "teardown", Verdict.SCORED, [True] * 2),
    ]
    outputs.write_all(tmp_path / "perfect", perfect, META)
    data = load(tmp_path / "perfect" / "erin" / "classroom.json")
    assert data["status"] == "pass"
    assert data["tests"][0]["test_code"] == "tcplab grade --lab handshake"
    assert data["tests"][0]["filename"] == "handshake.py"


def test_prairielearn_is_not_gradable_with_an_environment_error(graded):
    out, _, _ = graded
    carol = load(out / "carol" / "prairielearn.json")
    assert carol["gradable"] is False
    assert "graded again" in carol["message"]
    alice = load(out / "alice" / "prairielearn.json")
    assert alice["gradable"] is True
    assert alice["score"] == pytest.approx(14 / 20)
    assert sum(t["points"] for t in alice["tests"]) == 14
    assert sum(t["max_points"] for t in alice["tests"]) == 20


def test_prairielearn_score_is_zero_when_no_points_are_available():
    o = outcome("erin", "handshake", Verdict.MISSING, None, max_score=0, score=0)
    assert outputs.prairielearn_results([o])["score"] == 0.0


# ---- the reports ---------------------------------------------------------------------------


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs


def tags_of(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    return parser


def test_html_escapes_student_output(graded):
    out, _, _ = graded
    page = (out / "bob" / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "script" not in tags_of(page).tags


def test_html_is_a_standalone_page(graded):
    out, _, _ = graded
    page = (out / "alice" / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    parsed = tags_of(page)
    assert not {"link", "script", "img", "iframe"} & set(parsed.tags)
    assert not [v for k, v in parsed.attrs if k == "src"]
    assert "http" not in page


def test_html_embeds_the_ladder_as_is_or_says_no_segments(graded):
    out, _, _ = graded
    alice = (out / "alice" / "report.html").read_text(encoding="utf-8")
    assert '<pre class="ladder">SYN &rarr;</pre>' in alice
    bob = (out / "bob" / "report.html").read_text(encoding="utf-8")
    assert "no segments were observed" in bob.lower()


def test_reports_link_the_capture_relative_to_the_student_folder(graded):
    out, _, _ = graded
    assert 'href="handshake.pcap"' in (out / "alice" / "report.html").read_text(encoding="utf-8")
    assert "](handshake.pcap)" in (out / "alice" / "report.md").read_text(encoding="utf-8")
    o = outcome(
        "erin", "handshake", Verdict.SCORED, [True] * 3, pcap="captures/erin handshake.pcap"
    )
    assert 'href="../captures/erin%20handshake.pcap"' in outputs.report_html([o], META)


def fenced_blocks(text: str) -> list[str]:
    """The bodies of the Markdown fenced code blocks, as CommonMark would close them."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^(`{3,})", lines[i])
        if not m:
            i += 1
            continue
        bar, body, i = m.group(1), [], i + 1
        while i < len(lines) and not re.fullmatch(rf" {{0,3}}`{{{len(bar)},}}\s*", lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append("\n".join(body))
        i += 1
    return blocks


def test_markdown_student_output_stays_inside_its_fence(graded):
    out, _, _ = graded
    text = (out / "bob" / "report.md").read_text(encoding="utf-8")
    assert outputs.clean(HOSTILE) in fenced_blocks(text)
    assert outputs.fence("a ```` b").startswith("`````text\n")


def test_markdown_report_has_the_header_checks_and_environment(graded):
    out, _, _ = graded
    text = (out / "alice" / "report.md").read_text(encoding="utf-8")
    for needle in ("alice", "0.1.0", "6.8.0-test", "42", "2025-01-10T09:05:00Z"):
        assert needle in text
    assert "| ✗ | 0/6 | reaches TIME\\_WAIT | seq 1001 | hint reaches TIME\\_WAIT |" in text
    assert "net.ipv4.tcp\\_syn\\_retries" in text and "memory\\_mib" in text
    assert "SYN ->\n<- SYN+ACK" in fenced_blocks(text)


# ---- student folders -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b", "", "a b", "x\x00"])
def test_unsafe_student_names_are_refused(tmp_path, name):
    with pytest.raises(UsageError, match="not a safe folder name"):
        outputs.student_dir(tmp_path, name)


def test_a_student_folder_never_gets_another_students_outcomes(tmp_path):
    with pytest.raises(UsageError, match="others"):
        outputs.write_student(tmp_path, "alice", class_outcomes(), META)


# ---- anything a student prints -------------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.sampled_from(
    [HOSTILE, "]]>", "\r\n```\r", "&amp;<!--", "\ud7ff\ufffe\U0010ffff"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stdout=ANY_TEXT, stderr=ANY_TEXT, detail=ANY_TEXT, message=ANY_TEXT)
def test_any_student_text_keeps_every_output_well_formed(stdout, stderr, detail, message):
    checks = results("handshake", [True, False, False], detail=detail)
    o = outcome(
        "erin", "handshake", Verdict.RUNTIME_ERROR, None, checks=checks, score=2,
        stdout=stdout, stderr=stderr, message=message, ladder_html="",
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        outputs.write_all(out, [o], META)
        ET.parse(out / "junit.xml")
        validate(load(out / "grade.json"), "grade")
        for file, name in JSON_FILES.items():
            validate(load(out / "erin" / file), name)
        page = (out / "erin" / "report.html").read_text(encoding="utf-8")
        md_text = (out / "erin" / "report.md").read_text(encoding="utf-8")
    assert set(tags_of(page).tags) <= set(tags_of(outputs.report_html([clean_copy(o)], META)).tags)
    if stderr.strip():
        assert outputs.clean(stderr).replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") in [
            b.rstrip("\n") for b in fenced_blocks(md_text)
        ]


def clean_copy(o: Outcome) -> Outcome:
    """The same outcome with harmless text, to compare which tags a page has."""
    checks = [ScoredCheck(r.title, r.points, r.earned, r.ok, r.why, r.hint, "x") for r in o.checks]
    return outcome(
        o.student, o.lab, o.verdict, None, checks=checks, score=o.score,
        stdout="x", stderr="x", message="x", ladder_html="",
    )  # fmt: skip
