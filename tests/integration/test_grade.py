"""`tcplab grade` on real labs and a real sandbox: the hostile-submission corpus, reference and wrong
solutions graded in the sandbox, reruns that must be identical (also under load), the output files
against their schemas, and nothing left behind."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcplab.defaults import GRADE_PREFIX
from tcplab.exercise.catalog import all_labs, get
from tests import labcases
from tests.conftest import run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.netns

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOSTILE = FIXTURES / "grading" / "hostile"
SANDBOX_UIDS = range(61000, 62000)
WORKFLOW = "tcplab/grade/templates/classroom.yml"


def tcplab(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=600)


def sandbox_processes() -> list[str]:
    """Processes of a sandbox user, from /proc (pid and command)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            uid = int((proc / "status").read_text().split("\nUid:")[1].split()[0])
            if uid in SANDBOX_UIDS:
                found.append(f"{proc.name} {(proc / 'comm').read_text().strip()}")
        except (OSError, IndexError, ValueError):
            continue
    return found


def leftovers() -> list[str]:
    """What grading may create and must have removed: namespaces, control groups, workspaces and
    sandbox processes."""
    found = [f"netns {n}" for n in os.listdir("/run/netns") if n.startswith(GRADE_PREFIX)]
    for parent in (Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").glob("*")):
        found += [f"cgroup {d}" for d in parent.glob("tcplab-*")]
    work = Path("/run/tcplab/sandbox")
    if work.is_dir():
        found += [f"workspace {d}" for d in work.iterdir() if d.name != "uids"]
    return found + [f"process {p}" for p in sandbox_processes()]


def grade_json(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    data = json.loads((out / "grade.json").read_text())
    return {(o["student"], o["lab"]): o for o in data["outcomes"]}


def fingerprint(out: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """What must not change between reruns: verdict, score, and each check's result."""
    return {
        key: (o["verdict"], o["score"], tuple((c["title"], c["ok"]) for c in o["checks"]))
        for key, o in grade_json(out).items()
    }


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    """One grading run: every hostile file as its own student's handshake, two references
    beside them (one holding a secret the others must not find), and a symlink to /etc/shadow."""
    root = tmp_path_factory.mktemp("hostile")
    subs, out = root / "submissions", root / "out"
    cases = tomllib.loads((HOSTILE / "cases.toml").read_text())["case"]
    for case in cases:
        folder = subs / case["file"].removesuffix(".py").replace("_", "-")
        folder.mkdir(parents=True)
        shutil.copy(HOSTILE / case["file"], folder / "handshake.py")
    reference = get("handshake").solution
    for name in ("reference-a", "reference-b"):
        (subs / name).mkdir()
        shutil.copy(reference, subs / name / "handshake.py")
    with open(subs / "reference-b" / "handshake.py", "a") as f:
        f.write("# SECRET-OF-ANOTHER-STUDENT\n")
    (subs / "symlink").mkdir()
    (subs / "symlink" / "handshake.py").symlink_to("/etc/shadow")
    (subs / "no-file").mkdir()
    before = {p: p.read_bytes() for p in subs.rglob("*.py") if not p.is_symlink()}
    proc = tcplab(
        "grade", str(subs), "--lab", "handshake", "--out", str(out), "-j", "2",
        "--time-limit", "4", "--seed", "corpus",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr  # symlink refused, no-file missing
    after = {p: p.read_bytes() for p in subs.rglob("*.py") if not p.is_symlink()}
    assert after == before, "a submission was changed by grading"
    yield subs, out, proc.stdout


CASES = tomllib.loads((HOSTILE / "cases.toml").read_text())["case"]


@pytest.mark.parametrize("case", CASES, ids=[c["file"].removesuffix(".py") for c in CASES])
def test_hostile_submission_gets_its_verdict(
    hostile_run: tuple[Path, Path, str], case: dict[str, Any]
) -> None:
    _, out, _ = hostile_run
    student = case["file"].removesuffix(".py").replace("_", "-")
    o = grade_json(out)[(student, "handshake")]
    assert (o["verdict"], o["score"]) == (case["verdict"], case["score"]), o["message"]
    assert case.get("message", "") in o["message"]
    for phrase in case.get("stdout", []):
        assert phrase in o["stdout"], o["stdout"]
    for phrase in case.get("not_stdout", []):
        assert phrase not in o["stdout"], o["stdout"]


def test_hostile_neighbours_never_change_a_reference_grade(
    hostile_run: tuple[Path, Path, str],
) -> None:
    _, out, _ = hostile_run
    outcomes = grade_json(out)
    for name in ("reference-a", "reference-b"):
        o = outcomes[(name, "handshake")]
        assert (o["verdict"], o["score"], o["max_score"]) == ("scored", 10, 10), o["message"]


def test_symlinked_and_missing_solutions_are_refused_without_reading(
    hostile_run: tuple[Path, Path, str],
) -> None:
    _, out, _ = hostile_run
    outcomes = grade_json(out)
    link = outcomes[("symlink", "handshake")]
    assert (link["verdict"], link["score"]) == ("refused", 0)
    assert "handshake.py is a symbolic link" in link["message"]
    assert "root:" not in json.dumps(link)
    missing = outcomes[("no-file", "handshake")]
    assert (missing["verdict"], missing["score"]) == ("missing", 0)


def test_copied_ports_are_dropped_and_reported(hostile_run: tuple[Path, Path, str]) -> None:
    _, out, _ = hostile_run
    outcomes = grade_json(out)
    assert outcomes[("copied-ports", "handshake")]["foreign_segments"] >= 1
    assert outcomes[("syn-flood", "handshake")]["foreign_segments"] >= 100
    assert outcomes[("reference-a", "handshake")]["foreign_segments"] == 0


def test_grading_leaves_nothing_behind(hostile_run: tuple[Path, Path, str]) -> None:
    assert leftovers() == []


def test_every_output_file_matches_its_schema(hostile_run: tuple[Path, Path, str]) -> None:
    import jsonschema

    from tcplab.grade.outputs import schema

    _, out, _ = hostile_run
    jsonschema.validate(json.loads((out / "grade.json").read_text()), schema("grade"))
    students = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(students) == len(CASES) + 4
    for folder in students:
        for name, file in (
            ("gradescope", "results.json"),
            ("prairielearn", "prairielearn.json"),
            ("classroom", "classroom.json"),
        ):
            jsonschema.validate(json.loads((folder / file).read_text()), schema(name))
        assert (folder / "report.html").is_file() and (folder / "report.md").is_file()
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert len(rows) == len(CASES) + 4
    assert {"student", "lab", "score", "max_score", "verdict"} <= set(rows[0])
    assert (out / "reference-a" / "handshake.pcap").stat().st_size > 100


def test_report_shows_checks_ladder_and_pcap(hostile_run: tuple[Path, Path, str]) -> None:
    _, out, _ = hostile_run
    html = (out / "reference-a" / "report.html").read_text()
    assert "handshake.pcap" in html and "SYN_RECEIVED" in html and "ESTABLISHED" in html
    flood = (out / "fake-pass" / "report.html").read_text()
    assert "PASS: 10/10" in flood  # shown to the student, and never counted


def test_a_syn_flood_report_lists_a_capped_ladder(hostile_run: tuple[Path, Path, str]) -> None:
    _, out, _ = hostile_run
    for name in ("report.md", "report.html"):
        report = (out / "syn-flood" / name).read_text()
        flat = " ".join(report.replace("│", " ").split())  # the ladder's lanes, unwrapped
        assert re.search(r"… \d+ segments not shown \(see handshake.pcap\)", flat)
        assert len(report) < 200_000, name
    ladder = grade_json(out)[("syn-flood", "handshake")]["ladder"]
    shown = [r for r in ladder["ladder"] if r["kind"] == "segment"]
    assert len(shown) == 200 + 50 and ladder["info"]["segments_not_shown"] > 300


def test_summary_lists_every_student(hostile_run: tuple[Path, Path, str]) -> None:
    subs, _, stdout = hostile_run
    for folder in subs.iterdir():
        assert folder.name in stdout
    assert "full marks" in stdout


def test_every_reference_solution_gets_full_marks_in_the_sandbox(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "ref").mkdir(parents=True)
    labs = all_labs()
    for lab in labs:
        shutil.copy(lab.solution, subs / "ref" / f"{lab.name}.py")
    names = ",".join(lab.name for lab in labs)
    proc = tcplab("grade", str(subs), "--lab", names, "--out", str(out), "-j", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for (_, lab), o in grade_json(out).items():
        assert (o["verdict"], o["score"]) == ("scored", o["max_score"]), (lab, o["checks"])
    assert leftovers() == []


def _mixed_class(subs: Path) -> dict[tuple[str, str], int]:
    """References, starters and known-wrong solutions of three labs, plus two hostile ones; the
    scores the wrong ones must get (as `tcplab lab check` gives them)."""
    expected = {}
    for lab in ("handshake", "third-segment", "rst"):
        for who, src in (("ref", get(lab).solution), ("starter", get(lab).starter)):
            (subs / who).mkdir(parents=True, exist_ok=True)
            shutil.copy(src, subs / who / f"{lab}.py")
        for case in labcases.cases(lab):  # a file, or the reference plus a change
            folder = subs / f"case-{labcases.case_name(case).replace('_', '-')}"
            folder.mkdir(exist_ok=True)
            (folder / f"{lab}.py").write_text(labcases.solution_text(lab, case))
            expected[(folder.name, lab)] = case["score"]
    for hostile in ("fork_bomb.py", "memory_hog.py"):
        folder = subs / hostile.removesuffix(".py").replace("_", "-")
        folder.mkdir()
        shutil.copy(HOSTILE / hostile, folder / "handshake.py")
    return expected


def test_reruns_are_identical_also_under_load(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    expected = _mixed_class(subs)
    args = ["--lab", "handshake,third-segment,rst", "--seed", "rerun", "-j", "2"]
    first = tcplab("grade", str(subs), "--out", str(tmp_path / "a"), *args)
    assert first.returncode == 1, first.stdout + first.stderr  # each student lacks some labs
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)
    ]  # twice as many busy processes as this machine's CPUs
    try:
        time.sleep(0.5)
        second = tcplab("grade", str(subs), "--out", str(tmp_path / "b"), *args)
    finally:
        for p in burners:
            p.kill()
            p.wait()
    assert second.returncode == 1, second.stdout + second.stderr
    a, b = fingerprint(tmp_path / "a"), fingerprint(tmp_path / "b")
    assert a == b
    for key, score in expected.items():
        assert a[key][1] == score, key  # the same score as `tcplab lab check` gives
    ports_a = {k: o["ports"] for k, o in grade_json(tmp_path / "a").items()}
    ports_b = {k: o["ports"] for k, o in grade_json(tmp_path / "b").items()}
    assert ports_a == ports_b  # the same seed, the same numbers
    assert leftovers() == []


def test_classroom_workflow_grade_step_produces_what_the_reporter_reads(tmp_path: Path) -> None:
    """Run the shipped workflow's grading step as GitHub would (bash, its env, GITHUB_OUTPUT), with
    `sudo` and `tcplab` standing for the runner's, and decode what the reporter would read."""
    import base64

    import jsonschema
    import yaml

    from tcplab.grade.outputs import schema

    wf = yaml.safe_load((Path(__file__).resolve().parents[2] / WORKFLOW).read_text())
    job = wf["jobs"]["run-autograding-tests"]
    step = next(s for s in job["steps"] if s["name"] == "Grade with tcplab")
    work, bin_dir = tmp_path / "work", tmp_path / "bin"
    (work / "submission").mkdir(parents=True)
    shutil.copy(get("handshake").solution, work / "submission" / "handshake.py")
    (work / "submission" / "notes.txt").write_text("not a solution")
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (bin_dir / "tcplab").write_text(f'#!/bin/sh\nexec {sys.executable} -m tcplab "$@"\n')
    for tool in ("sudo", "tcplab"):
        (bin_dir / tool).chmod(0o755)
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "TCPLAB_LABS": job["env"]["TCPLAB_LABS"],
        "TCPLAB_SEED": "",
        "GITHUB_REPOSITORY": "course/handshake-alice",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=work, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(x for x in output.read_text().splitlines() if x.startswith("result="))
    result = json.loads(base64.b64decode(line.removeprefix("result=")))
    jsonschema.validate(result, schema("classroom"))
    assert result["status"] == "pass"
    assert sum(t["score"] for t in result["tests"]) == result["max_score"] == 10
    assert "handshake" in summary.read_text()
    assert leftovers() == []
