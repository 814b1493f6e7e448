"""The lab kit speaks the language chosen (issue 15): a recorded lab run evaluated under zh_CN gives
Chinese titles, messages, why and hints with the same points and the same keys (the English titles,
what programs read), and English is unchanged when no language is chosen.

Runs offline on the recorded runs of tests/fixtures/labs (no root)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tcplab import i18n
from tcplab.exercise.catalog import get
from tcplab.exercise.checker import LabResult, result_of
from tcplab.exercise.kit import HIDDEN_TITLE, Checklist, NotReached, ScoredCheck, Visibility, _
from tcplab.exercise.numbers import rel_text
from tcplab.exercise.output import fold_all
from tests.labcases import case_name, cases, recorded

MINE = ("handshake", "third-segment", "active-close", "time-wait")
CJK = re.compile(r"[\u4e00-\u9fff]")
# what a Chinese text may not hold: ambiguous-width quotes and the ellipsis (common15.md)
AMBIGUOUS = re.compile(r"[\u201c\u201d\u2018\u2019\u2026]")


def _result(lab: str, name: str) -> LabResult:
    from tcplab.exercise.recording import Recording

    rec = Recording.load(recorded(lab, name))
    return result_of(get(lab), Path(f"{name}.py"), rec)


def _in_chinese(lab: str, name: str) -> LabResult:
    i18n.set_language("zh_CN")
    try:
        return _result(lab, name)
    finally:
        i18n.set_language(i18n.ENGLISH)


def _failing_case(lab: str) -> str:
    """A recorded case of `lab` that fails a check with a hint (the first, in cases.toml order)."""
    for case in cases(lab):
        name = case_name(case)
        if recorded(lab, name).is_file():
            result = _result(lab, name)
            if any(not r.ok and r.hint for r in result.results):
                return name
    raise AssertionError(f"{lab}: no recorded case fails a check")


@pytest.mark.parametrize("lab", MINE)
def test_a_wrong_solution_scored_in_chinese_has_chinese_text_and_the_same_points_and_keys(lab):
    name = _failing_case(lab)
    english = _result(lab, name)
    chinese = _in_chinese(lab, name)
    assert [r.key for r in chinese.results] == [r.key for r in english.results]
    assert [r.key for r in english.results] == [r.title for r in english.results]
    assert [(r.earned, r.ok, r.status, r.cause, r.hint_level) for r in chinese.results] == [
        (r.earned, r.ok, r.status, r.cause, r.hint_level) for r in english.results
    ]
    assert chinese.score == english.score < english.max_score
    for zh, en in zip(chinese.results, english.results, strict=True):
        assert CJK.search(zh.title), zh.title
        assert zh.title != en.title
        assert not en.why or CJK.search(zh.why), zh.why
        assert not en.hint or CJK.search(zh.hint), zh.hint
        assert not en.detail or CJK.search(zh.detail), zh.detail
        for text in (zh.title, zh.why, zh.hint, zh.detail):
            assert not AMBIGUOUS.search(text), text
    assert CJK.search(chinese.judged) or not english.judged


@pytest.mark.parametrize("lab", MINE)
def test_the_json_keeps_its_fields_and_the_english_title_as_the_key(lab):
    name = _failing_case(lab)
    english = _result(lab, name).to_json()
    chinese = _in_chinese(lab, name).to_json()
    en_checks, zh_checks = english["checks"], chinese["checks"]
    assert [list(c) for c in zh_checks] == [list(c) for c in en_checks]
    assert "key" not in en_checks[0]
    assert [c["title"] for c in zh_checks] == [c["title"] for c in en_checks]
    numbers = ("points", "earned", "ok", "status", "cause", "hint_level", "hint_levels", "conn")
    for zh, en in zip(zh_checks, en_checks, strict=True):
        assert {k: zh[k] for k in numbers} == {k: en[k] for k in numbers}
    assert (chinese["score"], chinese["max_score"]) == (english["score"], english["max_score"])
    json.dumps(chinese, ensure_ascii=False)  # every text is plain JSON


def test_english_is_unchanged_when_no_language_is_chosen():
    result = _result("handshake", "ack_off_by_one")
    first = result.results[0]
    assert first.title == first.key == "your ACK acknowledges the kernel's SYN"
    assert first.detail.startswith(
        "your ack was the kernel's ISN+0, the kernel expected its ISN+1: one short: its SYN "
        "occupies one sequence number; the kernel answered with RST seq the kernel's ISN+0 ("
    )
    assert result.results[2].detail == (
        'not reached: see ✗ "your ACK acknowledges the kernel\'s SYN" above'
    )
    assert result.judged.startswith("judged: your connection from port ")
    assert first.hint == "look at the kernel's SYN+ACK: which of its numbers does your ACK answer?"
    assert not any(CJK.search(r.title + r.why + r.hint + r.detail) for r in result.results)


def test_the_kits_own_diagnosis_and_reaction_are_translated(chinese):
    result = _result("handshake", "ack_off_by_one")
    detail = result.results[0].detail
    # the numbers, the flags and the rule id stay as they are, around Chinese sentences
    assert detail.startswith(
        "你的 ack 是 内核的 ISN+0，内核期望的是 它的 ISN+1：少了 1：它的 SYN 占用一个序列号；"
        "内核回复了 RST seq 内核的 ISN+0（"
    ), detail
    # the table case's own words, from the model's catalog entry, cut before its numbers
    assert detail.endswith("（该 ACK 没有确认 SYN+ACK；规则 request-bad-ack）"), detail
    assert result.results[0].title == "你的 ACK 确认了内核的 SYN"


def test_a_check_not_reached_names_the_failed_check_in_the_language_shown(chinese):
    result = _result("handshake", "ack_off_by_one")
    blocked = [r for r in result.results if r.status == "not_reached"]
    if not blocked:
        pytest.skip("this recording reaches every check")
    assert "未进行到" in blocked[0].detail
    assert "你的 ACK 确认了内核的 SYN" in blocked[0].detail


def test_hint_tiers_and_attempt_counters_use_the_english_key(chinese, tmp_path, monkeypatch):
    from tcplab.exercise.attempts import Attempts

    monkeypatch.setenv("TCPLAB_STATE_DIR", str(tmp_path))
    asked: list[str] = []

    def level(title: str) -> int:
        asked.append(title)
        return 3

    from tcplab.exercise.recording import Recording

    rec = Recording.load(recorded("handshake", "ack_off_by_one"))
    result = result_of(get("handshake"), Path("x.py"), rec, level)
    assert asked[0] == "your ACK acknowledges the kernel's SYN"
    assert result.results[0].hint == "ack = SYN+ACK 的 seq + 1"  # the third tier, in Chinese
    attempts = Attempts()
    attempts.update("handshake", result.results)
    saved = json.loads(attempts.path.read_text())
    assert saved == {"handshake": {"your ACK acknowledges the kernel's SYN": 1}}


def test_a_hidden_check_keeps_its_english_key_and_shows_a_translated_name(chinese):
    row = ScoredCheck("secret", 2, 0, False, "why", "hint", visibility=Visibility.HIDDEN)
    shown = row.for_students()
    assert shown.key == HIDDEN_TITLE == "hidden check"
    assert shown.title == "隐藏的检查"
    assert shown.to_json()["title"] == "hidden check"


def test_a_scored_check_made_without_a_key_uses_its_title():
    row = ScoredCheck("a title", 1, 1, True, "", "")
    assert row.key == "a title"
    assert row.to_json()["title"] == "a title"


def test_a_labs_marked_texts_are_translated_and_needs_still_name_the_english_title(chinese):
    checks = Checklist()
    first = "your ACK acknowledges the kernel's SYN"  # a msgid of the catalog

    @checks.add(
        first,
        1,
        hints=("seq = your ISN + 1",),
        why="every byte of data occupies one sequence number",
    )
    def one(obs: object) -> bool:
        return False

    @checks.add("the kernel's socket reaches ESTABLISHED", 1, needs=(first,))
    def two(obs: object) -> NotReached:
        return NotReached(_("the connection never opened"))

    rows = checks.run(object())  # type: ignore[arg-type]
    assert [r.key for r in rows] == [first, "the kernel's socket reaches ESTABLISHED"]
    assert rows[0].title == "你的 ACK 确认了内核的 SYN"
    assert rows[0].why == "每个数据字节占用一个序列号"
    assert rows[0].hint == "seq = 你的 ISN + 1"
    assert rows[1].title == "内核的套接字进入 ESTABLISHED"
    assert rows[1].detail == "未进行到：见上面的 ✗ '你的 ACK 确认了内核的 SYN'"


def test_relative_numbers_name_whose_isn_in_the_language_shown(chinese):
    assert rel_text(1001, 1000, "your") == "你的 ISN+1"
    assert rel_text(999, 1000, "the kernel's") == "内核的 ISN-1"
    assert rel_text(1001, 1000, "its") == "它的 ISN+1"
    assert rel_text(1001, 1000) == "ISN+1"
    assert rel_text(0, 1000, "your") == "0"


def test_a_folded_traceback_counts_frames_in_the_language_shown(chinese):
    text = (
        "Traceback (most recent call last):\n"
        '  File "/home/s/sol.py", line 3, in <module>\n'
        "    send(x)\n"
        '  File "/usr/lib/python3/dist-packages/scapy/sendrecv.py", line 9, in send\n'
        "    boom()\n"
        '  File "/usr/lib/python3.11/socket.py", line 1, in boom\n'
        "    raise OSError\n"
        "OSError: no\n"
    )
    folded = fold_all(text, "/home/s")
    assert "  ... scapy 中 1 帧, 标准库 中 1 帧 ..." in folded, folded
    assert not AMBIGUOUS.search(folded)


@pytest.mark.parametrize("lab", MINE)
def test_the_chinese_handout_names_each_check_as_lab_check_prints_it(lab, chinese):
    handout = (get(lab).dir / "README.zh_CN.md").read_text(encoding="utf-8")
    table = handout.split("## 检查内容", 1)[1]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| ")]
    listed = [(title.strip(), int(points)) for title, points in rows[1:]]
    checks = get(lab).checklist().items
    assert listed == [(_(c.title), c.points) for c in checks]


@pytest.mark.parametrize("lab", MINE)
def test_every_title_hint_and_why_of_the_lab_is_in_the_chinese_catalog(lab, chinese):
    for check in get(lab).checklist().items:
        for text in (check.title, check.why, *check.hints):
            if text:
                shown = _(text)
                assert shown != text and CJK.search(shown), f"{lab}: not translated: {text!r}"
                assert not AMBIGUOUS.search(shown), shown
