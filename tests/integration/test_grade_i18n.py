"""`tcplab grade --lang zh_CN` on a real class: the progress, the summary and the reports speak
Chinese and fit 80 columns, the solutions' jails get the language, grade.json records it, a
regrade keeps it whatever the locale, and --lang changes it and says so."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tcplab.exercise.catalog import get
from tcplab.text import columns
from tests.conftest import run_cli

pytestmark = pytest.mark.netns

HANDSHAKE = get("handshake")
CJK = re.compile(r"[\u4e00-\u9fff]")
# a solution that says the language its jail was given, and what tcplab says in it (the catalog
# must be readable there: the jail binds the tcplab package)
SAYS_LANG = """
import os
from tcplab import i18n
print('lang=' + os.environ.get('TCPLAB_LANG', '-'))
i18n.set_language(i18n.choose())
print('says=' + i18n._('ran to the end'))
"""


def tcplab(*args: str, lang_env: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI at 80 columns in a C locale; TCPLAB_LANG only when given (tests set it to en)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TCPLAB_LANG", "LANGUAGE", "LC_ALL")}
    env.update({"LANG": "C.UTF-8", "COLUMNS": "80"})
    if lang_env is not None:
        env["TCPLAB_LANG"] = lang_env
    return run_cli(*args, env=env, timeout=600)


def meta(out: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / "grade.json").read_text())["meta"]
    return data


def test_a_class_graded_in_chinese_stays_chinese_until_told(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student, text in {
        "ana": HANDSHAKE.starter.read_text(),
        "di": HANDSHAKE.solution.read_text() + SAYS_LANG,
    }.items():
        (subs / student).mkdir(parents=True)
        (subs / student / "handshake.py").write_text(text)
    args = [str(subs), "--lab", "handshake", "--out", str(out), "-j", "2"]

    first = tcplab("grade", "--lang", "zh_CN", *args)
    assert first.returncode == 0, first.stderr
    assert "正在评分：2 名学生、1 个实验" in first.stdout and "份满分" in first.stdout
    assert all(columns(line) <= 80 for line in first.stdout.splitlines()), first.stdout
    assert meta(out)["lang"] == "zh_CN"
    doc = json.loads((out / "grade.json").read_text())
    di = next(o for o in doc["outcomes"] if o["student"] == "di")
    assert di["verdict"] == "scored" and di["message"] == "运行结束"
    assert "lang=zh_CN" in di["stdout"]  # the solution's jail speaks the course's language
    assert "says=运行结束" in di["stdout"]
    page = (out / "ana" / "report.html").read_text()
    assert '<html lang="zh-CN">' in page and len(CJK.findall(page)) > 50

    again = tcplab("grade", *args, "--student", "ana")  # no --lang, an English locale
    assert again.returncode == 0, again.stderr
    assert "正在评分" in again.stdout and meta(out)["lang"] == "zh_CN"

    told = tcplab("grade", *args, "--student", "ana", lang_env="en")
    assert told.returncode == 0, told.stderr
    assert "the course's language changes from zh_CN to en" in " ".join(told.stdout.split())
    assert meta(out)["lang"] == "en"
    assert '<html lang="en">' in (out / "ana" / "report.html").read_text()
    assert not CJK.search(told.stdout)
