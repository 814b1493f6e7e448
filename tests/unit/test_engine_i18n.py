"""The engine speaks the language chosen (zh_CN here): the ladder's lanes, causes, marks and notes,
the checks' names and explanations, a scenario's text; the numbers, flags, state names and every
machine-read key (a check's name in --json, a prediction's cause) stay as they are in English."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tcplab import i18n
from tcplab.cli.lanes import lines
from tcplab.engine.check import check_answer, fact, match_pattern
from tcplab.engine.ladder import Ladder, build
from tcplab.engine.predicted import Predicted
from tcplab.engine.report import Report, cap_rows
from tcplab.engine.scenario import load
from tcplab.engine.words import cause_text, model_text, phrase, said
from tcplab.errors import DefinitionError
from tcplab.exercise.catalog import get
from tcplab.exercise.evaluate import evaluate
from tcplab.exercise.recording import Recording
from tcplab.i18n import N_
from tcplab.model.endpoint import Endpoint
from tcplab.model.flags import Flags
from tcplab.model.notation import SegmentPattern
from tcplab.model.segment import Segment
from tcplab.model.table import Input
from tests.conftest import REPO
from tests.labcases import recorded

CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBERS = re.compile(r"(?:seq|ack|win|len) [-+]?\d+|\b[SFRPU.]+\b")


def _report(lab: str, name: str) -> Report:
    return evaluate(get(lab), Recording.load(recorded(lab, name))).report


def _ladder(lab: str, name: str) -> Ladder:
    return build(_report(lab, name))


def test_a_recorded_ladder_in_chinese_has_chinese_labels_and_the_same_segments() -> None:
    english = _ladder("active-close", "reference")
    i18n.set_language("zh_CN")
    try:
        chinese = _ladder("active-close", "reference")
        drawn = lines(chinese, "6.1", 80)
        assert (chinese.you.title, chinese.kernel.title) == ("你", "内核")
    finally:
        i18n.set_language("en")
    assert english.you.title == "you"
    # the arrows: the same flags, seq, ack, window, options, in the same order
    assert [s.arrow.text for s in chinese.steps if s.arrow] == [
        s.arrow.text for s in english.steps if s.arrow
    ]
    assert [c.text for s in chinese.steps for c in s.changes] == [
        c.text for s in english.steps for c in s.changes
    ]
    causes = [s.arrow.cause for s in chinese.steps if s.arrow and s.arrow.cause]
    assert causes and all(CJK.search(c) for c in causes), causes
    english_causes = [s.arrow.cause for s in english.steps if s.arrow and s.arrow.cause]
    assert any(c.startswith("app close() at +") for c in english_causes), english_causes
    assert any(c.startswith("应用程序 close()，时间 +") for c in causes), causes
    text = "\n".join(str(line) for line in drawn)
    assert "你" in text and "内核" in text


def test_a_recorded_check_run_in_chinese_keeps_every_number_of_the_english_one() -> None:
    english = [s.arrow.text for s in _ladder("handshake", "reference").steps if s.arrow]
    i18n.set_language("zh_CN")
    try:
        chinese = [s.arrow.text for s in _ladder("handshake", "reference").steps if s.arrow]
    finally:
        i18n.set_language("en")
    assert NUMBERS.findall(" ".join(chinese)) == NUMBERS.findall(" ".join(english))
    assert chinese == english


def test_causes_are_translated_where_shown_and_kept_in_english(chinese: None) -> None:
    assert (
        cause_text("your segment 3 (A) from port 40000") == "你的第 3 个报文段（A），来自端口 40000"
    )
    assert cause_text("your segment 1 (no flags) from port 40000") == (
        "你的第 1 个报文段（无标志位），来自端口 40000"
    )
    assert cause_text("app close() at +0.058 s") == "应用程序 close()，时间 +0.058 s"
    assert cause_text("line 12: send") == "第 12 行：发送"
    assert cause_text("line 14: app close") == "第 14 行：应用程序 close"
    assert cause_text("the SYN") == "SYN"
    assert cause_text("timer: retransmission timer").startswith("定时器：")
    assert cause_text("something no driver says") == "something no driver says"


def test_causes_in_english_are_unchanged() -> None:
    for cause in ("your segment 3 (A) from port 40000", "app close() at +0.058 s", "line 2: send"):
        assert cause_text(cause) == cause


def test_a_checks_name_is_shown_translated_and_keyed_in_english(chinese: None) -> None:
    seg = Segment(7788, 40000, Flags.SYN | Flags.ACK, seq=100, ack=1001, window=64240)
    pattern = SegmentPattern(Flags.SYN | Flags.ACK, ack=1)
    checks = match_pattern(pattern, seg, phrase(N_("the SYN")), why="w", seq_base=0, ack_base=1000)
    assert [c.name for c in checks] == ["SYN是 SYN+ACK", "SYN的 ack 为 1"]
    assert [c.key for c in checks] == ["the SYN is SYN+ACK", "ack of the SYN is 1"]
    out = checks[1].to_json()
    assert out["name"] == "ack of the SYN is 1" and out["shown"] == "SYN的 ack 为 1"
    assert (out["expected"], out["observed"]) == ("1", "1")


def test_a_checks_json_in_english_is_as_it_was() -> None:
    check = fact(name=said(N_("the kernel's socket (line {line})"), line=3), ok=True,
                 expected="ESTABLISHED", observed="ESTABLISHED", why="w")  # fmt: skip
    assert check.name == check.key == "the kernel's socket (line 3)"
    assert list(check.to_json()) == [
        "name", "ok", "expected", "observed", "why", "source", "linux_note"
    ]  # fmt: skip


def test_a_prediction_that_held_and_one_that_did_not_read_in_chinese(chinese: None) -> None:
    pred = Endpoint().call(Input.APP_CONNECT, 0.0)
    held = Predicted(pred, "the SYN", 0.0)
    checks = check_answer(held, None, phrase(N_("the SYN")))
    assert checks and all(CJK.search(c.name) for c in checks)
    assert all(c.key and not CJK.search(c.key) for c in checks)
    held.decide(False, "nothing")
    assert held.finding().startswith("tcplab 的模型预测在「SYN」之后是")
    assert held.finding().endswith("内核实际是 无")


def test_a_long_ladders_note_is_translated(chinese: None) -> None:
    report = _report("syn-backlog", "reference")
    assert report.segment_count() > 2
    rows = cap_rows(report.rows, first=1, last=1)
    notes = [r for r in rows if getattr(r, "text", "").startswith("...")]
    assert notes and "省略了" in notes[0].text and "pcap 文件" in notes[0].text


def test_a_model_text_keeps_the_numbers_it_was_completed_with(chinese: None) -> None:
    assert model_text("") == ""
    assert model_text("an unknown text: seq +1") == "an unknown text: seq +1"


def test_a_scenarios_text_is_in_the_catalog_and_shown_in_chinese(chinese: None) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import catalog  # scripts/catalog.py

    path = REPO / "scenarios" / "passive-close.toml"
    found = {m for f, _line, m, _w in catalog._scenarios() if f == "scenarios/passive-close.toml"}
    scenario = load(path)
    assert scenario.title in found
    assert all(step.why in found for step in scenario.steps if getattr(step, "why", ""))
    shown = i18n._(scenario.title)
    assert shown != scenario.title and CJK.search(shown)
    assert "CLOSE_WAIT -> LAST_ACK -> CLOSED" in shown  # state names as they are


def test_every_scenarios_shown_text_has_a_chinese_translation(chinese: None) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import catalog

    with catalog.languages()[0].open("rb") as f:
        po = read_po(f)
    texts = {m for _f, _line, m, _w in catalog._scenarios()}
    missing = [m for m in texts if po.get(m) is None or not po.get(m).string]
    assert not missing, missing[:5]
    # a name (tcp_reset_check) may stay as it is; prose may not
    english = [m for m in texts if i18n._(m) == m and re.search(r"[a-z]+ [a-z]+ [a-z]+", m)]
    assert not english, english[:5]
    ambiguous = [
        i18n._(m) for m in texts if re.search("[\u201c\u201d\u2018\u2019\u2026]", i18n._(m))
    ]
    assert not ambiguous, ambiguous[:3]


def test_english_scenario_text_is_unchanged() -> None:
    scenario = load(Path(REPO / "scenarios" / "passive-close.toml"))
    assert i18n._(scenario.title) == scenario.title


def test_a_scenario_steps_name_stays_english_in_json_and_is_translated_on_the_ladder() -> None:
    report = Report("run x", "", "")
    report.expect("line 3", "S. 0:0(0) ack 1", "nothing", False)
    i18n.set_language("zh_CN")
    try:
        text = build(report).steps[0].text
        data = report.to_json()
    finally:
        i18n.set_language("en")
    assert text.startswith("第 3 行：预期 S. 0:0(0) ack 1，实际")
    assert data["ladder"][0]["step"] == "line 3"
    assert build(report).steps[0].text == "line 3: expected S. 0:0(0) ack 1, observed nothing"


def test_a_malformed_scenario_is_explained_in_chinese(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[scenario]\ntitle = "x"\n\n[[step]]\nexpect_state = "ESTABLISHED"\ntimer = "x"\n'
    )
    with pytest.raises(DefinitionError) as english:
        load(bad)
    i18n.set_language("zh_CN")
    try:
        with pytest.raises(DefinitionError) as chinese:
            load(bad)
    finally:
        i18n.set_language("en")
    assert english.value.message == f"{bad}:6: unknown timer 'x'"
    assert english.value.hint == "use one of: keepalive, off, on, persist, timewait"
    assert chinese.value.message == f"{bad}:6: 未知的定时器 'x'"
    assert chinese.value.hint == "请使用以下之一：keepalive, off, on, persist, timewait"


def test_a_checks_expected_and_observed_words_are_english_in_json_in_every_language():
    """ "valid", "no reply", "5 bytes": shown translated, given to programs in English."""

    def made() -> dict[str, object]:
        return fact(
            name="the SYN+ACK has a valid checksum",
            ok=False,
            expected=phrase(N_("valid")),
            observed=said(N_("{n} bytes"), n=5),
            why="why",
        ).to_json()

    english = made()
    i18n.set_language("zh_CN")
    try:
        check = fact(
            name="x", ok=False, expected=phrase(N_("valid")), observed=said(N_("{n} bytes"), n=5),
            why="",
        )  # fmt: skip
        assert str(check.expected) != "valid" and "5" in str(check.observed)
        chinese_json = made()
    finally:
        i18n.set_language("en")
    assert english["expected"] == chinese_json["expected"] == "valid"
    assert english["observed"] == chinese_json["observed"] == "5 bytes"
