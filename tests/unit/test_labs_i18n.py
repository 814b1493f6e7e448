"""The checks of rst, isn, port-reuse, simultaneous, syn-backlog, accept-queue and state-tour speak
Chinese: every title, hint and why is in the catalog and translated, every message they build at
run time too (with its placeholders), and a recorded run scored in Chinese earns the same points
as in English, in Chinese words."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from tcplab import i18n
from tcplab.exercise.catalog import get
from tcplab.exercise.checker import result_of
from tcplab.exercise.recording import Recording
from tests.conftest import catalog_tool
from tests.labcases import recorded

REPO = Path(__file__).resolve().parents[2]
PO = REPO / "tcplab" / "locale" / "zh_CN" / "LC_MESSAGES" / "tcplab.po"
LABS = ["rst", "isn", "port-reuse", "simultaneous", "syn-backlog", "accept-queue", "state-tour"]
# a failing run of each lab as well as its reference: passes, failures and not-reached all speak
FAILING = {
    "rst": "no_old_duplicate",
    "isn": "rst_one_short",
    "port-reuse": "too_soon",
    "simultaneous": "starter",
    "syn-backlog": "starter",
    "accept-queue": "stops_after_drop",
    "state-tour": "starter",
}
CJK = re.compile(r"[\u4e00-\u9fff]")
CHINESE = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")  # or its punctuation
# ambiguous width in a CJK terminal (one column in some, two in others); § stays, as RFC names do
AMBIGUOUS = "\u201c\u201d\u2018\u2019\u2026\u2014"


@pytest.fixture(scope="module")
def tool() -> Any:
    return catalog_tool()


@pytest.fixture(scope="module")
def template(tool: Any) -> Any:
    return tool.extract()


@pytest.fixture(scope="module")
def zh() -> Any:
    with PO.open("rb") as f:
        return read_po(f)


def _translation(zh: Any, msgid: str) -> str:
    found = zh.get(msgid)
    assert found is not None, f"not in the zh_CN catalog: {msgid!r}"
    assert not found.fuzzy, f"fuzzy: {msgid!r}"
    return str(found.string)


def _texts(lab: str) -> list[tuple[str, str]]:
    """(what, text) for every title, hint and why of the lab's checks."""
    out = []
    for check in get(lab).checklist().items:
        out.append(("title", check.title))
        out += [(f"hint {i + 1} of {check.title!r}", h) for i, h in enumerate(check.hints)]
        out.append((f"why of {check.title!r}", check.why))
    return out


@pytest.mark.parametrize("lab", LABS)
def test_every_title_hint_and_why_is_in_the_catalog_and_translated(lab, template, zh):
    for what, text in _texts(lab):
        assert text in template, f"{lab}: {what} is not extracted: {text!r}"
        assert _translation(zh, text), f"{lab}: {what} is not translated: {text!r}"


@pytest.mark.parametrize("lab", LABS)
def test_every_message_of_the_lab_is_translated_with_its_placeholders(lab, tool, template, zh):
    where = f"labs/{lab}/checks.py"
    mine = [m for m in template if m.id and any(loc[0] == where for loc in m.locations)]
    assert len(mine) > 20, f"{where}: only {len(mine)} messages extracted"
    for message in mine:
        english = message.id if isinstance(message.id, str) else message.id[-1]
        found = zh.get(message.id)
        assert found is not None and not found.fuzzy, f"{where}: untranslated {english!r}"
        strings = [found.string] if isinstance(found.string, str) else list(found.string)
        assert all(strings), f"{where}: untranslated {english!r}"
        for string in strings:
            assert tool.placeholders(string) == tool.placeholders(english), (english, string)
            assert not set(string) & set(AMBIGUOUS), f"ambiguous-width character in {string!r}"


@pytest.mark.parametrize("lab", LABS)
def test_titles_hints_and_why_show_in_chinese(lab, chinese):
    for what, text in _texts(lab):
        assert CJK.search(i18n._(text)), f"{lab}: {what} shows in English: {text!r}"


def _points(lab: str, name: str) -> tuple[list[tuple[str, int, str]], int, list[str]]:
    """Each check's (title, points earned, status), the score and the details, on a recorded
    run."""
    rec = Recording.load(recorded(lab, name))
    result = result_of(get(lab), Path(f"{name}.py"), rec).to_json()
    rows = [(c["title"], c["earned"], c["status"]) for c in result["checks"]]
    return rows, result["score"], [c["detail"] for c in result["checks"] if c["detail"]]


@pytest.mark.parametrize("lab", LABS)
@pytest.mark.parametrize("which", ["reference", "failing"])
def test_a_recorded_run_earns_the_same_points_in_chinese(lab, which):
    name = "reference" if which == "reference" else FAILING[lab]
    english, english_score, english_details = _points(lab, name)
    i18n.set_language("zh_CN")
    try:
        chinese, chinese_score, chinese_details = _points(lab, name)
    finally:
        i18n.set_language(i18n.ENGLISH)
    # the same points and verdicts; the JSON's titles stay English (a key: needs=, gradebooks)
    assert (chinese, chinese_score) == (english, english_score)
    assert english_details and not any(CHINESE.search(d) for d in english_details)
    # every detail speaks Chinese: these checks' own words and the kit's ("not reached: see ...")
    assert all(CHINESE.search(d) for d in chinese_details), [
        d for d in chinese_details if not CHINESE.search(d)
    ]
    if which == "failing":
        assert any(status != "pass" for _title, _earned, status in english)


def _shown_literals(path: Path) -> Iterator[tuple[int, str]]:
    """English text a check shows without the catalog: a Pass/Fail/NotReached given a plain string
    literal, or an f-string with words in it (Babel cannot extract either)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in (
            "Pass",
            "Fail",
            "NotReached",
        ):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value:
                yield node.lineno, first.value
        if isinstance(node, ast.JoinedStr):
            words = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
            if re.search(r"[A-Za-z]{2,}", words):
                yield node.lineno, words


@pytest.mark.parametrize("lab", LABS)
def test_no_check_shows_english_the_catalog_cannot_see(lab):
    path = REPO / "labs" / lab / "checks.py"
    found = list(_shown_literals(path))
    assert not found, f"{path}: mark these with _(): {found}"


@pytest.mark.parametrize("lab", LABS)
def test_the_chinese_handout_lists_each_check_as_lab_check_shows_it(lab, chinese):
    handout = (REPO / "labs" / lab / "README.zh_CN.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip() for line in handout.splitlines() if line.startswith("| ")}
    titles = [i18n._(check.title) for check in get(lab).checklist().items]
    missing = [title for title in titles if title not in rows]
    assert not missing, f"labs/{lab}/README.zh_CN.md: no table row for {missing}"
