"""Regrading a real class without loss: `--student` grades one student into the class in --out and
every other row and folder stays byte for byte; a Ctrl-C leaves a partial class that the same
command finishes; similar submissions are listed; bad combinations are usage errors."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from tcplab.exercise.catalog import get
from tcplab.grade.outputs import schema
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.netns

HANDSHAKE = get("handshake")
SIMILAR = Path(__file__).resolve().parents[1] / "fixtures" / "similarity"


def tcplab(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=600)


def make_class(subs: Path) -> None:
    """Four students: a wrong one (the starter), two byte-identical solutions of their own, and
    the reference."""
    fix = HANDSHAKE.solution.read_text().replace("isn + 1", "isn+1")  # the same code, own bytes
    files = {
        "ana": HANDSHAKE.starter.read_text(),
        "bo": fix + "\nprint('done')  # bo's own line\n",
        "cy": fix + "\nprint('done')  # bo's own line\n",
        "di": HANDSHAKE.solution.read_text(),
    }
    for student, text in files.items():
        (subs / student).mkdir(parents=True)
        (subs / student / "handshake.py").write_text(text)


def said(proc: subprocess.CompletedProcess[str] | str) -> str:
    """What the command printed, on one line (the terminal wraps it)."""
    text = proc if isinstance(proc, str) else proc.stdout
    return " ".join(text.split())


def files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _as_written(o: dict[str, object], text: str) -> bytes:
    """An outcome's lines in grade.json, exactly as they are in the file."""
    block = "    " + json.dumps(o, indent=2).replace("\n", "\n    ")
    assert block in text
    return block.encode()


def rows(out: Path) -> dict[str, dict[object, bytes]]:
    """Each class file's rows, as bytes: gradebook lines, grade.json outcomes, junit suites."""
    lines = (out / "gradebook.csv").read_bytes().split(b"\r\n")[1:-1]
    text = (out / "grade.json").read_text()
    doc = json.loads(text)
    return {
        "csv": {tuple(line.split(b",")[:2]): line for line in lines},
        "json": {(o["student"], o["lab"]): _as_written(o, text) for o in doc["outcomes"]},
        "junit": {
            s.get("name"): ET.tostring(s) for s in ET.fromstring((out / "junit.xml").read_bytes())
        },
    }


def test_regrading_one_student_keeps_the_class_byte_for_byte(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    make_class(subs)
    args = ["--lab", "handshake", "--out", str(out), "-j", "2", "--seed", "regrade"]
    first = tcplab("grade", str(subs), *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "handshake: bo, cy: identical" in said(first)  # the similarity hint, di is the reference
    before, old_rows = files(out), rows(out)
    shutil.copy(HANDSHAKE.solution, subs / "ana" / "handshake.py")  # ana hands in a fix
    again = tcplab("grade", str(subs), *args[:-2], "--student", "ana")  # the class's seed
    assert again.returncode == 0, again.stdout + again.stderr
    assert "merged into the class in --out: 1 row(s) graded now, 3 kept" in said(again)
    after, new_rows = files(out), rows(out)
    for kind in ("csv", "json", "junit"):
        assert set(new_rows[kind]) == set(old_rows[kind])  # 4 students, not 1
        changed = {k for k in old_rows[kind] if old_rows[kind][k] != new_rows[kind][k]}
        assert len(changed) == 1 and "ana" in str(changed), (kind, changed)
    others = {n for n in before if not n.startswith("ana/") and "/" in n}
    assert {n for n in others if before[n] != after[n]} == set()
    doc = json.loads((out / "grade.json").read_text())
    ana = [o for o in doc["outcomes"] if o["student"] == "ana"][0]
    assert ana["score"] == ana["max_score"] and doc["meta"]["seed"] == "regrade"
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["students"] for h in history] == [["ana", "bo", "cy", "di"], ["ana"]]
    (change,) = history[1]["graded"]
    assert change["old"]["score"] < change["new"]["score"] == ana["max_score"]
    assert history[1]["seed"] == "regrade"
    alone = tmp_path / "one-student"  # the case: a folder holding one student, --force
    (alone / "di").mkdir(parents=True)
    shutil.copy(HANDSHAKE.starter, alone / "di" / "handshake.py")
    third = tcplab("grade", str(alone), *args[:-2], "--force")
    assert third.returncode == 0, third.stdout + third.stderr
    doc = json.loads((out / "grade.json").read_text())
    assert len(doc["outcomes"]) == 4 and len(rows(out)["csv"]) == 4  # not 1
    assert [c["students"] for c in doc["similar"]] == [["bo", "cy"]]  # the class's hint stays
    jsonschema.validate(doc, schema("grade"))


def test_regrading_asks_for_a_known_student_and_the_same_labs(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    make_class(subs)
    bad = tcplab("grade", str(subs), "--lab", "handshake", "--out", str(out), "--student", "an")
    assert bad.returncode == 2 and "error: --student an: no such student folder" in bad.stderr
    assert "did you mean ana?" in bad.stderr and not out.exists()
    out.mkdir()
    (out / "gradebook.csv").write_text("student,lab\n")  # an older tcplab's run
    old = tcplab("grade", str(subs), "--lab", "handshake", "--out", str(out), "--student", "ana")
    assert (
        old.returncode == 2
        and "without tcplab's record" in old.stderr
        and "--replace" in old.stderr
    )
    first = tcplab(
        "grade", str(subs), "--lab", "handshake", "--out", str(out), "--student", "ana", "--replace"
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    other = tcplab("grade", str(subs), "--lab", "rst", "--out", str(out), "--student", "ana")
    assert other.returncode == 2
    assert "error: --out holds a class graded on handshake, not on rst" in other.stderr


def _interrupt_after_first(cmd: list[str]) -> tuple[int, str]:
    """Run `tcplab grade`, Ctrl-C it once the first submission is graded; its exit and output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcplab", *cmd], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )  # fmt: skip
    assert proc.stdout is not None
    seen, deadline = [], time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            line = proc.stdout.readline() if ready else ""
            seen.append(line)
            if "[1/" in line:
                proc.send_signal(signal.SIGINT)
                break
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(seen) + rest


def test_an_interrupted_class_is_partial_and_the_same_command_finishes_it(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    make_class(subs)
    cmd = ["grade", str(subs), "--lab", "handshake", "--out", str(out), "-j", "1", "--seed", "s"]
    code, output = _interrupt_after_first(cmd)
    assert code == 130, output
    doc = json.loads((out / "grade.json").read_text())
    graded = {o["student"] for o in doc["outcomes"]}
    assert doc["meta"]["interrupted"] is True and 1 <= len(graded) < 4, output
    assert len(doc["meta"]["not_graded"]) == 4 - len(graded)  # and no fake rows for them
    assert "The same command grades only what is missing" in said(output)
    assert b"partial" in (out / "junit.xml").read_bytes()
    jsonschema.validate(doc, schema("grade"))
    kept = rows(out)
    finish = tcplab(*cmd)
    assert finish.returncode == 0, finish.stdout + finish.stderr
    assert f"finishing an interrupted run: {len(graded)} already graded" in said(finish)
    doc = json.loads((out / "grade.json").read_text())
    assert doc["meta"]["interrupted"] is False and len(doc["outcomes"]) == 4
    assert all(rows(out)["json"][k] == v for k, v in kept["json"].items())
