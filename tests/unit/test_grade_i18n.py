"""Grading in the course's language: the same class graded in English and in Chinese writes the
same machine-readable fields (ids, verdicts, keys, scores, CSV headers, JUnit names) and only its
text in the other language; the Chinese reports are Chinese (lang="zh-CN", CJK fonts, CJK text)
and their pictures well-formed; a regrade keeps the class's language unless one is asked for.

The class is real: recorded runs of the handshake lab scored by the lab's own checks, verdicts
from the grader's own judge() of how a run ended, a missing file from the submission's prepare().
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcplab import i18n
from tcplab.cli import gradecmd
from tcplab.exercise.catalog import get
from tcplab.exercise.evaluate import evaluate
from tcplab.exercise.recording import Recording
from tcplab.grade import courses, merge, outputs
from tcplab.grade.grader import judge
from tcplab.grade.outcome import Outcome, Verdict
from tcplab.grade.submission import NotRun, Submission, prepare
from tcplab.sandbox.cgroup import Usage
from tcplab.sandbox.runner import Limits, SandboxRun
from tests.labcases import recorded

LAB = "handshake"
META = {
    "tcplab_version": "0.1.0",
    "kernel": "6.1.0-test",
    "seed": "c0ffee",
    "labs": [LAB],
    "started": "2026-12-01T09:00:00+00:00",
    "finished": "2026-12-01T09:05:00+00:00",
    "jobs": 2,
    "limits": {"memory_bytes": 256 << 20},
    "sysctl": {"net.ipv4.tcp_syn_retries": "6"},
}
# what a person reads, in the language of the course; everything else is a key or a number
TEXT_FIELDS = {"message", "lab_title", "title", "why", "hint", "detail", "cause", "flags", "ladder"}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def speak() -> Iterator[Any]:
    """Speak a language for the rest of the test; English again afterwards, whatever happens."""
    yield i18n.set_language
    i18n.set_language(i18n.ENGLISH)


def _ran(**kw: Any) -> SandboxRun:
    return SandboxRun(usage=Usage(0.4, 30 << 20, 0, 0), wall_s=1.5, **kw)


def _scored(student: str, case: str, ran: SandboxRun) -> Outcome:
    """What Grader._outcome makes of a run: the checks of the recorded exchange, judge()'s verdict."""
    lab = get(LAB)
    ev = evaluate(lab, Recording.load(recorded(LAB, case)))
    verdict, message = judge(ran, Limits())
    o = Outcome(
        student, lab.name, lab.title, verdict, message, lab.checklist().max_score,
        None if verdict is Verdict.ENVIRONMENT_ERROR else ev.judgement.score,
        checks=ev.judgement.results, stdout=ran.stdout, stderr=ran.stderr,
        exit_code=ran.exit_code, signal=ran.signal, wall_s=ran.wall_s, cpu_s=ran.usage.cpu_s,
        peak_memory=ran.usage.peak_memory, ports=[40100, 40101], isn=1000,
        ladder=ev.report.to_json(), report=ev.report, pcap=f"{student}/{LAB}.pcap",
    )  # fmt: skip
    o.ladder_text, o.ladder_html = gradecmd.render_ladder(ev.report)
    return o


def _missing(student: str) -> Outcome:
    lab = get(LAB)
    with pytest.raises(NotRun) as caught:
        prepare(Submission(student, lab, None))
    v = caught.value
    return Outcome(student, lab.name, lab.title, v.verdict, v.message, 10, 0)


def grade_class(out: Path) -> list[Path]:
    """Write every file of the fixture class into `out`, in the language spoken now."""
    boom = "Traceback (most recent call last):\nValueError: bad seq"
    outcomes = [
        _scored("alice", "reference", _ran(exit_code=0)),
        _scored("bob", "ack_off_by_one", _ran(exit_code=1, stderr=boom)),
        _scored("dave", "starter", _ran(sandbox_error="mount /proc: EPERM")),
        _scored("erin", "ack_off_by_one", _ran(timed_out=True)),
        _missing("carol"),
    ]
    meta = {**META, "lang": i18n.language()}
    paths = outputs.write_all(out, outcomes, meta)
    return paths + courses.write_course_files(out, outcomes, meta)


def _machine(value: Any) -> Any:
    """A JSON tree without its text fields."""
    if isinstance(value, dict):
        return {k: _machine(v) for k, v in value.items() if k not in TEXT_FIELDS | {"lang"}}
    if isinstance(value, list):
        return [_machine(v) for v in value]
    return value


@pytest.fixture
def both(tmp_path: Path, speak: Any) -> tuple[Path, Path]:
    en, zh = tmp_path / "en", tmp_path / "zh"
    grade_class(en)
    speak("zh_CN")
    grade_class(zh)
    speak("en")
    return en, zh


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_grade_json_differs_only_in_its_text_fields(both):
    en, zh = (_json(p / "grade.json") for p in both)
    assert en["meta"]["lang"] == "en" and zh["meta"]["lang"] == "zh_CN"
    assert _machine(en) == _machine(zh)
    # the verdicts are the names course tools read, in both
    verdicts = [o["verdict"] for o in zh["outcomes"]]
    assert verdicts == ["scored", "runtime_error", "missing", "environment_error", "time_limit"]
    assert [o["score"] for o in en["outcomes"]] == [o["score"] for o in zh["outcomes"]]
    # ... and the text fields did change: the test would notice a language that never arrived
    assert en["outcomes"][1]["message"].startswith("exited with status 1")
    assert (
        CJK.search(zh["outcomes"][1]["message"])
        and "ValueError: bad seq" in (zh["outcomes"][1]["message"])
    )
    assert all(CJK.search(o["message"]) for o in zh["outcomes"])


def test_gradebook_and_course_csvs_keep_headers_and_numbers(both):
    for name in ("gradebook.csv", "canvas.csv", "moodle.csv"):
        en, zh = (list(csv.reader(io.StringIO((p / name).read_text()))) for p in both)
        assert en[0] == zh[0], name  # headers course tools import
        assert len(en) == len(zh)
    en, zh = (list(csv.DictReader(io.StringIO((p / "gradebook.csv").read_text()))) for p in both)
    for a, b in zip(en, zh, strict=True):
        assert {k: v for k, v in a.items() if k != "message"} == {
            k: v for k, v in b.items() if k != "message"
        }
    assert any(CJK.search(row["message"]) for row in zh)


def _junit(path: Path) -> list[tuple[str, ...]]:
    root = ET.parse(path).getroot()
    rows: list[tuple[str, ...]] = []
    for suite in root.iter("testsuite"):
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        rows.append(("suite", suite.get("name", ""), props["verdict"], props["score"]))
        for case in suite.iter("testcase"):
            problem = next(iter(case), None)
            kind = "" if problem is None else f"{problem.tag}:{problem.get('type', '')}"
            rows.append(("case", case.get("classname", ""), case.get("name", ""), kind))
    return rows


def test_junit_names_verdicts_and_results_are_the_same(both):
    en, zh = (_junit(p / "junit.xml") for p in both)
    assert en == zh
    names = [r[2] for r in zh if r[0] == "case"]
    assert len(names) > 5 and not any(CJK.search(n) for n in names)  # the checks' English keys


def _tests(data: dict[str, Any], keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(t.get(k) for k in keys) for t in data["tests"]]


def test_course_tool_files_keep_names_scores_and_status(both):
    en_dir, zh_dir = both
    for student in ("alice", "bob", "carol", "dave", "erin"):
        en, zh = (_json(d / student / "results.json") for d in both)
        keys = ("name", "number", "score", "max_score", "status", "visibility", "tags")
        assert _tests(en, keys) == _tests(zh, keys)
        assert (en["score"], en["extra_data"]) == (zh["score"], zh["extra_data"])
        en, zh = (_json(d / student / "prairielearn.json") for d in both)
        assert (en["gradable"], en["score"]) == (zh["gradable"], zh["score"])
        assert _tests(en, ("name", "points", "max_points")) == _tests(
            zh, ("name", "points", "max_points")
        )
        en, zh = (_json(d / student / "classroom.json") for d in both)
        keys = ("name", "status", "score", "test_code", "filename")
        assert (en["status"], en["max_score"]) == (zh["status"], zh["max_score"])
        assert _tests(en, keys) == _tests(zh, keys)
    bob = _json(zh_dir / "bob" / "results.json")
    assert CJK.search(bob["output"]) and "**提示：**" in json.dumps(bob, ensure_ascii=False)
    assert CJK.search(_json(zh_dir / "bob" / "prairielearn.json")["message"])
    assert "points" in _json(en_dir / "bob" / "prairielearn.json")["message"]


def test_a_chinese_report_is_chinese_and_says_so(both):
    en_dir, zh_dir = both
    md = (zh_dir / "bob" / "report.md").read_text()
    page = (zh_dir / "bob" / "report.html").read_text()
    assert md.startswith("# tcplab 报告：bob") and "### 检查" in md and "### 时序图" in md
    assert "| | 分数 | 检查 | 详情 | 提示 | 原因 |" in md
    assert '<html lang="zh-CN">' in page and "<h3>检查</h3>" in page
    assert "Noto Sans CJK SC" in page and "WenQuanYi Micro Hei" in page
    assert len(CJK.findall(page)) > 50
    # the verdict's class (for CSS) stays the machine name; its words are Chinese
    assert 'class="verdict v-runtime_error">运行时错误</span>' in page
    english = (en_dir / "bob" / "report.html").read_text()
    assert '<html lang="en">' in english and "Noto Sans CJK" not in english
    assert not CJK.search(english)


def test_the_chinese_reports_pictures_are_well_formed_svg_with_cjk_fonts(both):
    page = (both[1] / "bob" / "report.html").read_text()
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    assert svgs
    for svg in svgs:
        root = ET.fromstring(svg)  # well-formed XML
        assert "Noto Sans CJK SC" in "".join(s.text or "" for s in root.iter("style"))
    texts = " ".join(t for svg in svgs for t in ET.fromstring(svg).itertext())
    assert "双方经过的状态" in texts and "你 → 内核" in texts and "时间" in texts


def test_a_regrade_keeps_the_class_language_unless_one_is_asked_for(speak):
    before = merge.ClassRun("seed", [LAB], None, lang="zh_CN")
    speak("en")  # the locale of whoever regrades: English
    assert gradecmd.course_language(before, None) == ("zh_CN", "")
    assert i18n.language() == "zh_CN"  # what the run writes speaks the class's language
    lang, said = gradecmd.course_language(before, "en")
    assert lang == "en" and i18n.language() == "en"
    assert said == "the course's language changes from zh_CN to en"
    assert gradecmd.course_language(None, None) == ("en", "")  # a new class: the language spoken


def test_the_class_record_keeps_its_language_and_an_old_one_is_english():
    run = merge.ClassRun("seed", [LAB], None, lang="zh_CN")
    again = merge.ClassRun.from_json(json.loads(json.dumps(run.to_json())))
    assert again.lang == "zh_CN" and merge.class_meta(again)["lang"] == "zh_CN"
    old = run.to_json()
    del old["lang"]
    assert merge.ClassRun.from_json(old).lang == "en"
    merged = merge.merged(again, [], ("seed", [LAB], None), set(), set())
    assert merged.lang == "zh_CN"


def test_the_language_asked_for_on_purpose(monkeypatch):
    from tcplab import cli

    monkeypatch.setattr(cli, "LANG_ASKED", None, raising=False)
    monkeypatch.delenv("TCPLAB_LANG", raising=False)
    assert gradecmd.asked_language() is None  # only the locale: not on purpose
    monkeypatch.setenv("TCPLAB_LANG", "zh_CN.UTF-8")
    assert gradecmd.asked_language() == "zh_CN"
    monkeypatch.setattr(cli, "LANG_ASKED", "en")
    assert gradecmd.asked_language() == "en"  # --lang comes first
    # the command line ran and nothing was asked: TCPLAB_LANG is what it passed on to children
    monkeypatch.setattr(cli, "LANG_ASKED", "")
    assert gradecmd.asked_language() is None


def test_the_grader_children_and_the_jail_get_the_language(speak, monkeypatch):
    monkeypatch.delenv("TCPLAB_LANG", raising=False)
    import os

    with gradecmd.children_speak("zh_CN"):
        assert os.environ["TCPLAB_LANG"] == "zh_CN"  # the zygote and the application inherit it
    assert "TCPLAB_LANG" not in os.environ
    monkeypatch.setenv("TCPLAB_LANG", "en")
    with gradecmd.children_speak("zh_CN"):
        pass
    assert os.environ["TCPLAB_LANG"] == "en"
