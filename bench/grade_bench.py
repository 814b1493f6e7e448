"""Benchmark: grading a class of 100 handshake submissions (issue 16's target: <= 12 s on a 2-core
machine), with every verdict and score compared with the ones recorded once from an older tcplab.

    sudo python3 bench/grade_bench.py [--students 100] [--runs 3] [--jobs 2,4] [--baseline 9]
                                      [--time-limit 4] [--tcplab CMD] [--strict]
                                      [--before "/opt/tcplab/venv/bin/tcplab"]
                                      [--record bench/grade_verdicts.json]
                                      [--output bench/results/grade-NAME.json]

The class is MIXED: the wrong solutions of tests/fixtures/labs/handshake/cases.toml (one each),
crashing, ending-at-once, fake and syntax-error submissions from tests/fixtures/grading/hostile, one
that hangs (sleeps until the time limit, --time-limit s), a folder without the file and one with it
misnamed; the rest are copies of the reference solution. For each -j in --jobs it grades the class
--runs times, interleaved with the baseline (`tcplab lab check handshake --reference`, one
unsandboxed check of one solution, the way a student checks their work), and reports the median
wall time, the time per submission, and its ratio to the baseline's median from the same run.

Every row (student, lab) must have the verdict and score of bench/grade_verdicts.json, recorded once
with `--record` by the tcplab before issue 16 (`--tcplab /opt/tcplab/venv/bin/tcplab`); any
difference is printed and the script exits 2. Exit 1 with --strict when the target is missed.
With --before CMD, that tcplab (e.g. main's) grades the same class right after each run of this
one, and the table adds its median and the ratio after/before (same machine, same minutes).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tomllib

REPO = Path(__file__).resolve().parents[1]
VERDICTS = REPO / "bench" / "grade_verdicts.json"
HOSTILE = REPO / "tests" / "fixtures" / "grading" / "hostile"
TARGET_S = 12.0
# hostile submissions that end by themselves quickly (no CPU or memory burnt on purpose)
HOSTILE_FILES = ("exit_at_once.py", "syntax_error.py", "missing_import.py", "fake_pass.py",
                 "kernel_socket.py", "fake_replies.py")  # fmt: skip
HANGS = "import time\n\ntime.sleep(3600)  # hangs: stopped at the wall-clock limit\n"


def mutants() -> dict[str, str]:
    """The handshake lab's wrong solutions (the reference with each case's changes)."""
    reference = (REPO / "labs" / "handshake" / "solution.py").read_text()
    cases = tomllib.loads((REPO / "tests/fixtures/labs/handshake/cases.toml").read_text())["case"]
    out = {}
    for case in cases:
        if "file" in case:
            out[case["name"]] = (REPO / "tests/fixtures/labs/handshake" / case["file"]).read_text()
            continue
        text = reference
        for change in case["change"]:
            if text.count(change["old"]) != 1:
                sys.exit(f"case {case['name']}: its change no longer applies to the reference")
            text = text.replace(change["old"], change["new"])
        out[case["name"]] = text
    return out


def make_class(folder: Path, students: int) -> None:
    """`students` folders: the odd ones first, then copies of the reference."""
    odd: dict[str, str | None] = {f"wrong-{k}": v for k, v in mutants().items()}
    odd |= {f"hostile-{Path(f).stem}": (HOSTILE / f).read_text() for f in HOSTILE_FILES}
    odd |= {"hangs": HANGS, "no-file": None, "misnamed": None}
    reference = (REPO / "labs" / "handshake" / "solution.py").read_text()
    names = list(odd) + [f"copy{i:03d}" for i in range(max(0, students - len(odd)))]
    for name in names[:students]:
        (folder / name).mkdir()
        body = odd.get(name, reference)
        if name == "misnamed":
            (folder / name / "hand_shake.py").write_text(reference)
        elif body is not None:
            (folder / name / "handshake.py").write_text(body)


def run(cmd: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=REPO, check=False)


def grade_once(cmd: list[str], subs: Path, jobs: int, limit: float) -> tuple[float, list[Any]]:
    out = Path(tempfile.mkdtemp(prefix="tcplab-bench-out-"))
    try:
        start = time.perf_counter()
        proc = run(cmd, "grade", str(subs), "--lab", "handshake", "--out", str(out), "-j",
                   str(jobs), "--seed", "bench", "--force", "--time-limit", f"{limit:g}")  # fmt: skip
        took = time.perf_counter() - start
        if proc.returncode not in (0, 1):  # 1: some submissions were not run (missing, misnamed)
            sys.exit(f"tcplab grade failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        return took, json.loads((out / "grade.json").read_text())["outcomes"]
    finally:
        shutil.rmtree(out, ignore_errors=True)


def rows(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{o['student']}/{o['lab']}": {"verdict": o["verdict"], "score": o["score"]}
        for o in outcomes
    }


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    out = [f"{k}: expected {want[k]}, got {got.get(k, 'no row')}" for k in sorted(want)
           if got.get(k) != want[k]]  # fmt: skip
    return out + [f"{k}: a row that was not there before" for k in sorted(set(got) - set(want))]


def baseline_once(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = run(cmd, "lab", "check", "handshake", "--reference")
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"tcplab lab check failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", default="2,4")
    ap.add_argument("--baseline", type=int, default=9)
    ap.add_argument("--time-limit", type=float, default=4.0)
    ap.add_argument("--tcplab", default=f"{shlex.quote(sys.executable)} -m tcplab",
                    help="the command to time (default: this tree's, with this Python)")  # fmt: skip
    ap.add_argument(
        "--before",
        help="another tcplab command (e.g. main's) graded side by side, "
        "interleaved; its verdicts are compared too, and the ratio after/before shown",
    )
    ap.add_argument("--record", type=Path, help="write this run's verdicts here (once)")
    ap.add_argument("--output", type=Path, help="write the figures here as JSON")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = ap.parse_args()
    cmd = shlex.split(args.tcplab)
    jobs = [int(j) for j in args.jobs.split(",")]
    want = None if args.record else json.loads(VERDICTS.read_text())["rows"]
    subs = Path(tempfile.mkdtemp(prefix="tcplab-bench-subs-"))
    try:
        make_class(subs, args.students)
        walls: dict[int, list[float]] = {j: [] for j in jobs}
        before: dict[int, list[float]] = {j: [] for j in jobs}
        base: list[float] = []
        bad: list[str] = []
        for r in range(args.runs):
            for j in jobs:
                took, outcomes = grade_once(cmd, subs, j, args.time_limit)
                walls[j].append(took)
                got = rows(outcomes)
                if args.record and not args.record.exists():
                    record(args.record, args, got)
                diff = differences(got, want or json.loads(args.record.read_text())["rows"])
                bad += [f"run {r + 1} -j {j}: {d}" for d in diff]
                print(f"run {r + 1} -j {j}: {took:.2f} s, {len(diff)} differences",
                      file=sys.stderr)  # fmt: skip
                if args.before:
                    took, outcomes = grade_once(shlex.split(args.before), subs, j, args.time_limit)
                    before[j].append(took)
                    diff = differences(rows(outcomes), want or {})
                    bad += [f"run {r + 1} -j {j} (--before): {d}" for d in diff]
                    print(f"run {r + 1} -j {j} --before: {took:.2f} s, {len(diff)} differences",
                          file=sys.stderr)  # fmt: skip
            for _ in range(max(1, args.baseline // args.runs)):
                base.append(baseline_once(cmd))
        table = report(walls, base, args.students, before)
        if args.output is not None:
            keep(args.output, args, table, walls, base)
    finally:
        shutil.rmtree(subs, ignore_errors=True)
    for line in bad:
        print(f"verdict changed: {line}")
    if bad:
        return 2
    missed = any(row["median_wall_s"] > TARGET_S for row in table)
    return 1 if args.strict and missed else 0


def record(path: Path, args: argparse.Namespace, got: dict[str, Any]) -> None:
    version = run(shlex.split(args.tcplab), "--version").stdout.strip()
    data = {"tcplab": args.tcplab, "version": version, "students": args.students,
            "time_limit": args.time_limit, "seed": "bench", "rows": got}  # fmt: skip
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(got)} verdicts in {path}", file=sys.stderr)


def keep(
    path: Path,
    args: argparse.Namespace,
    table: list[dict[str, Any]],
    walls: dict[int, list[float]],
    base: list[float],
) -> None:
    """The figures, the runs they come from, and the code they were measured on."""
    import platform

    commit = run(["git"], "rev-parse", "HEAD").stdout.strip()
    data = {
        "bench": "grade_bench", "commit": commit, "kernel": platform.release(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "students": args.students, "runs": args.runs, "time_limit": args.time_limit,
        "baseline_median_s": statistics.median(base), "baseline_runs_s": base,
        "table": table, "walls_by_jobs": {str(j): w for j, w in walls.items()},
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def report(
    walls: dict[int, list[float]], base: list[float], n: int, before: dict[int, list[float]]
) -> list[dict[str, Any]]:
    b = statistics.median(base)
    print(f"baseline: tcplab lab check handshake --reference, median {b:.3f} s ({len(base)} runs)")
    print(f"target: the class of {n} in <= {TARGET_S:g} s")
    print("| -j | median wall (s) | per submission (s) | ratio to baseline | target |"
          " --before wall (s) | after/before |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    table = []
    for j, ws in walls.items():
        wall = statistics.median(ws)
        ok = "met" if wall <= TARGET_S else "missed"
        old = statistics.median(before[j]) if before.get(j) else None
        then = f"{old:.2f} | {wall / old:.3f}" if old else "- | -"
        print(f"| {j} | {wall:.2f} | {wall / n:.3f} | {wall / n / b:.3f} | {ok} | {then} |")
        table.append({"jobs": j, "median_wall_s": wall, "per_submission_s": wall / n,
                      "ratio_to_baseline": wall / n / b, "target": ok,
                      "before_median_wall_s": old, "before_walls_s": before.get(j, [])})  # fmt: skip
    return table


if __name__ == "__main__":
    sys.exit(main())
