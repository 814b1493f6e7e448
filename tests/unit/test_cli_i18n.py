"""The command line in Chinese: help (tcplab's own texts and Click's), usage errors, the language
chosen by --lang, TCPLAB_LANG or the locale, the handout in the language spoken; English unchanged.

Each test runs tcplab as its own process, so the language it chooses is its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tcplab.text import columns

REPO = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_HEADINGS = ("Usage:", "Options:", "Commands:", "Arguments:", "Show this message and exit")


def tcplab(*args: str, lang: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("TCPLAB_LANG", "LANGUAGE")}
    environ.update(LANG="C.UTF-8", LC_ALL="", LC_MESSAGES="", COLUMNS="80")
    if lang is not None:
        environ["TCPLAB_LANG"] = lang
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "tcplab", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def _chinese_help(out: str) -> None:
    assert CJK.search(out), out
    for english in ENGLISH_HEADINGS:
        assert english not in out, f"{english!r} left in English:\n{out}"


def test_the_top_level_help_is_chinese_and_shows_lang():
    done = tcplab("--lang", "zh_CN", "--help")
    assert done.returncode == 0, done.stderr
    _chinese_help(done.stdout)
    assert "用法：tcplab" in done.stdout and "选项：" in done.stdout and "命令：" in done.stdout
    assert "--lang LANG" in done.stdout and "显示本帮助并退出" in done.stdout


@pytest.mark.parametrize(
    "command", [["send"], ["handshake"], ["lab", "check"], ["grade"], ["lab"], ["sockets"]]
)
def test_a_subcommands_help_is_chinese(command):
    done = tcplab(*command, "--help", "--lang", "zh_CN")  # --lang anywhere on the line
    assert done.returncode == 0, done.stderr
    _chinese_help(done.stdout)


@pytest.mark.parametrize(
    "command", [[], ["send"], ["handshake"], ["lab"], ["lab", "check"], ["grade"], ["run"]]
)
def test_chinese_help_fits_80_columns(command):
    done = tcplab(*command, "--help", lang="zh_CN")
    assert done.returncode == 0, done.stderr
    wide = [line for line in done.stdout.splitlines() if columns(line) > 80]
    assert not wide, "\n".join(wide)


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["send", "--ack", "x"], "输入应为整数"),
        (["send", "--ack", "-5"], "输入应大于或等于 0"),
        (["send", "--bogus"], "没有这个选项：--bogus"),
        (["lab", "show"], "缺少参数 'name'"),
        (["send", "extra"], "多余的参数 (extra)"),
        (["handshake", "--timeout"], "选项 '--timeout' 需要一个值"),
        (["sendx"], "你是不是想用 'send'"),
        (["handshake", "--timeout", "0"], "太短"),
        ([], "没有给出命令"),
    ],
)
def test_a_usage_error_in_chinese_is_one_error_line_and_one_hint_line(args, phrase):
    done = tcplab(*args, lang="zh_CN")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("错误：") and phrase in lines[0], done.stderr
    assert lines[1].startswith("提示：") and CJK.search(lines[1]), done.stderr
    assert "Traceback" not in done.stderr and not done.stdout


def test_an_unknown_language_is_a_usage_error():
    done = tcplab("--lang", "fr", "--help")
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.splitlines() == [
        "error: tcplab does not speak 'fr'",
        "hint: choose one of: en, zh_CN (--lang or TCPLAB_LANG)",
    ]
    assert tcplab("--help", lang="klingon").returncode == 2


@pytest.mark.parametrize(
    ("env", "chinese"),
    [
        ({"TCPLAB_LANG": "zh_CN"}, True),
        ({"LANG": "zh_CN.UTF-8"}, True),
        ({"LC_MESSAGES": "zh_CN.UTF-8"}, True),
        ({"TCPLAB_LANG": "en", "LANG": "zh_CN.UTF-8"}, False),
        ({"LANG": "de_DE.UTF-8"}, False),
        ({}, False),
    ],
)
def test_tcplab_lang_then_the_locale_choose(env, chinese):
    done = tcplab("send", "--bogus", **env)
    assert done.returncode == 2
    assert bool(CJK.search(done.stderr)) is chinese, done.stderr


def test_the_flag_beats_the_environment():
    done = tcplab("--lang", "en", "send", "--bogus", lang="zh_CN")
    assert done.stderr.startswith("error: No such option: --bogus")


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (
            ["send", "--ack", "x"],
            [
                "error: Invalid value for '--ack': Input should be a valid integer, unable to "
                "parse string as an integer",
                "hint: see 'tcplab send --help'",
            ],
        ),
        (["lab", "show"], ["error: Missing argument 'name'", "hint: see 'tcplab lab show --help'"]),
        (
            ["sendx"],
            ["error: No such command 'sendx'. Did you mean 'send'?", "hint: see 'tcplab --help'"],
        ),
        (
            ["handshake", "--timeout"],
            ["error: Option '--timeout' requires an argument", "hint: see 'tcplab --help'"],
        ),
    ],
)
def test_english_usage_errors_are_clicks_words(args, lines):
    done = tcplab(*args)
    assert done.returncode == 2 and done.stderr.splitlines() == lines


def test_english_help_keeps_clicks_headings():
    done = tcplab("send", "--help")
    assert done.stdout.startswith("Usage: tcplab send [OPTIONS]")
    assert "\nOptions:\n" in done.stdout and "Show this message and exit." in done.stdout
    assert not CJK.search(done.stdout)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course's labs folder with one lab whose handout is in English and in Chinese."""
    lab = tmp_path / "labs" / "handshake"
    shutil.copytree(REPO / "labs" / "handshake", lab)
    (lab / "README.md").write_text("# The handshake\n\nEnglish handout.\n", encoding="utf-8")
    (lab / "README.zh_CN.md").write_text("# 三次握手\n\n中文讲义。\n", encoding="utf-8")
    return tmp_path / "labs"


def test_lab_show_prints_the_chinese_handout_in_chinese(course):
    done = tcplab("lab", "show", "handshake", "--labs", str(course), lang="zh_CN")
    assert done.returncode == 0, done.stderr
    assert "中文讲义" in done.stdout and "English handout" not in done.stdout


def test_lab_show_prints_the_english_handout_in_english(course):
    done = tcplab("lab", "show", "handshake", "--labs", str(course))
    assert done.returncode == 0, done.stderr
    assert "English handout" in done.stdout and "中文讲义" not in done.stdout


def test_lab_show_falls_back_to_english_without_a_chinese_handout(course):
    (course / "handshake" / "README.zh_CN.md").unlink()
    done = tcplab("lab", "show", "handshake", "--labs", str(course), lang="zh_CN")
    assert done.returncode == 0, done.stderr
    assert "English handout" in done.stdout


def test_lab_list_shows_translated_titles():
    done = tcplab("lab", "list", lang="zh_CN")
    assert done.returncode == 0, done.stderr
    assert "手工完成三次握手" in done.stdout
    assert "The three-way handshake, by hand" in tcplab("lab", "list").stdout


def test_a_models_error_in_a_usage_error_is_chinese():
    """The model's own words (an unknown flag) reach the error line translated, numbers kept."""
    out = tcplab("send", "--target", "ns2:7788", "--flags", "SX", lang="zh_CN")
    assert out.returncode == 2, out.stderr
    first = out.stderr.splitlines()[0]
    assert first.startswith("错误：") and "'X'" in first and "标志" in first, first
    english = tcplab("send", "--target", "ns2:7788", "--flags", "SX")
    assert english.stderr.startswith("error: unknown TCP flag 'X' in 'SX'")
