"""tcplab in Chinese, as a student and an instructor with a Chinese locale see it (LANG=zh_CN.UTF-8,
nothing else chosen): `handshake`, `lab show`, `lab check` of a wrong solution, `run` of a mutant and
`grade` print Chinese throughout, and at COLUMNS=80 no line is wider than 80 display columns (a
Chinese character takes two)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tcplab.netns.record import TestbedSpec
from tcplab.text import columns
from tests import labcases
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.netns

LABS = sorted(p.parent.name for p in (REPO / "labs").glob("*/lab.toml"))
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[a-z][a-z']+")
# words that make a run of English words a sentence rather than a name, a command or notation
_FUNCTION_WORDS = {
    "the", "a", "an", "of", "to", "is", "are", "and", "or", "in", "on", "at", "for", "with",
    "your", "you", "its", "it", "this", "that", "not", "no", "by", "from", "as", "be", "was",
    "has", "have", "what", "when", "which", "were", "into", "then", "than", "there",
}  # fmt: skip


def chinese_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TCPLAB_LANG", "LANGUAGE", "LC_ALL")}
    env.update(LANG="zh_CN.UTF-8", LC_MESSAGES="zh_CN.UTF-8", COLUMNS="80", **more)
    return env


def english_sentences(text: str) -> list[str]:
    """Lines holding a run of 5 or more English words, 2 of them function words: prose left in
    English (names, commands, flags and tcpdump notation do not look like this). Capitalised
    names inside the run (SYN, ACK, Linux) neither count nor break it."""
    found = []
    for line in text.splitlines():
        run: list[str] = []
        for token in re.split(r"\s+", line):
            word = token.strip(".,;:()[]'\"!?")
            if word.lower() in _FUNCTION_WORDS or _WORD.fullmatch(word):
                run.append(word.lower())
                small = [w for w in run if w in _FUNCTION_WORDS]
                if len(run) >= 5 and len(small) >= 2:
                    found.append(line)
                    break
            elif not re.fullmatch(r"[A-Z][A-Za-z_+.]*", word):
                run = []
    return found


def check_output(what: str, text: str, allowed: int = 0) -> None:
    wide = [line for line in text.splitlines() if columns(line) > 80]
    assert not wide, f"{what}: lines wider than 80 columns:\n" + "\n".join(wide[:5])
    assert _CJK.search(text), f"{what}: no Chinese at all:\n{text[:800]}"
    english = english_sentences(text)
    assert len(english) <= allowed, f"{what}: English left:\n" + "\n".join(english[:10])


def test_handshake_in_chinese(lab: TestbedSpec) -> None:
    out = run_cli("handshake", "--target", f"{lab.kernel}:7788", env=chinese_env())
    assert out.returncode == 0, out.stdout + out.stderr
    check_output("handshake", out.stdout + out.stderr)
    assert "三次握手" in out.stdout or "握手" in out.stdout


@pytest.mark.parametrize("name", LABS)
def test_lab_show_in_chinese(name: str) -> None:
    out = run_cli("lab", "show", name, env=chinese_env())
    assert out.returncode == 0, out.stderr
    # the handout's code blocks (commands, scapy) stay as they are: judge its prose only
    prose = re.sub(r"```.*?```", "", out.stdout, flags=re.S)
    check_output(f"lab show {name}", prose, allowed=2)
    assert all(columns(line) <= 80 for line in out.stdout.splitlines())


def test_lab_check_of_a_wrong_solution_in_chinese(tmp_path: Path) -> None:
    case = next(c for c in labcases.cases("time-wait") if c["name"] == "ack_of_fin_off_by_one")
    solution = labcases.write_solution("time-wait", case, tmp_path)
    out = run_cli("lab", "check", "time-wait", str(solution), env=chinese_env(), timeout=180)
    assert out.returncode == 1, out.stdout + out.stderr
    # what the student's program printed is the student's (the reference prints English)
    own = re.sub(r"你的程序输出了：.*?(?=^ [✓✗–] )", "", out.stdout, flags=re.S | re.M)
    assert own != out.stdout
    check_output("lab check", own + out.stderr)
    assert "提示" in out.stdout


def test_run_of_a_mutant_in_chinese() -> None:
    mutant = REPO / "scenarios" / "mutants" / "passive-close.toml"
    out = run_cli("run", str(mutant), env=chinese_env(), timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    check_output("run", out.stdout + out.stderr)


def test_grade_in_chinese(tmp_path: Path) -> None:
    subs, results = tmp_path / "submissions", tmp_path / "results"
    (subs / "ada").mkdir(parents=True)
    (subs / "李雷").mkdir(parents=True)
    shutil.copy(REPO / "labs" / "handshake" / "solution.py", subs / "ada" / "handshake.py")
    shutil.copy(REPO / "labs" / "handshake" / "starter.py", subs / "李雷" / "handshake.py")
    out = run_cli(
        "grade", str(subs), "--lab", "handshake", "--out", str(results), env=chinese_env(),
        timeout=300,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stdout + out.stderr
    check_output("grade", out.stdout + out.stderr)
    reports = sorted(results.glob("*/report.md"))
    assert len(reports) == 2
    for report in reports:
        text = report.read_text(encoding="utf-8").replace("李雷", "")
        assert _CJK.search(text), report
