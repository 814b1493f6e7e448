"""Benchmark: grading a class of 100 copies of the handshake reference solution (issue target:
<= 30 s on a 2-core machine), with throughput and peak memory.

    sudo python3 bench/grade_bench.py [--students 100] [--runs 3] [--jobs 2,4] [--baseline 10]
                                      [--output bench/results/grade-NAME.json]

For each -j in --jobs it runs `tcplab grade` over the class --runs times, interleaved, and reports
the median wall time, submissions per second, and peak memory: the grader's own maximum resident
set (the largest single process it ran: grader or zygote), the largest memory peak of one
sandboxed solution (from its control group), and the most memory the whole machine had in use above
where it started (MemAvailable sampled every 50 ms). As the baseline, side by side, it runs
`tcplab lab check handshake --reference` --baseline times: one unsandboxed check of one solution,
the way a student checks their own work. The ratio is the grader's time per submission over the
baseline's. `lab check` runs by grading's rules (its own ports, the pinned sysctls), so the
baseline does the same work per solution as a graded run, less the sandbox. --output keeps the
figures (and every run's) as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcplab.exercise.catalog import get  # noqa: E402


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


class MemoryWatch(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.start_avail = mem_available()
        self.low = self.start_avail
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.low = min(self.low, mem_available())

    @property
    def peak_in_use(self) -> int:
        return self.start_avail - self.low


def tcplab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcplab", *args],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip


def grade_once(subs: Path, jobs: int) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="tcplab-bench-out-"))
    watch = MemoryWatch()
    watch.start()
    start = time.perf_counter()
    proc = tcplab("grade", str(subs), "--lab", "handshake", "--out", str(out), "-j", str(jobs),
                  "--seed", "bench", "--force")  # fmt: skip
    took = time.perf_counter() - start
    watch.done.set()
    watch.join()
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # so far, any child
    try:
        if proc.returncode != 0:
            sys.exit(f"tcplab grade failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        outcomes = json.loads((out / "grade.json").read_text())["outcomes"]
        full = sum(o["score"] == o["max_score"] for o in outcomes)
        if full != len(outcomes):
            sys.exit(f"only {full} of {len(outcomes)} copies got full marks")
        return {
            "wall_s": took,
            "per_s": len(outcomes) / took,
            "sandbox_peak": max(o["peak_memory_bytes"] for o in outcomes),
            "largest_process": largest,
            "machine_peak": watch.peak_in_use,
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def baseline_once() -> float:
    start = time.perf_counter()
    proc = tcplab("lab", "check", "handshake", "--reference")
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"tcplab lab check failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", default="2,4")
    ap.add_argument("--baseline", type=int, default=10)
    ap.add_argument("--output", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    subs = Path(tempfile.mkdtemp(prefix="tcplab-bench-subs-"))
    try:
        solution = get("handshake").solution
        for i in range(args.students):
            (subs / f"student{i:03d}").mkdir()
            shutil.copy(solution, subs / f"student{i:03d}" / "handshake.py")
        results: dict[int, list[dict[str, Any]]] = {j: [] for j in jobs}
        base: list[float] = []
        for run in range(args.runs):
            for j in jobs:
                results[j].append(grade_once(subs, j))
                r = results[j][-1]
                print(f"run {run + 1} -j {j}: {r['wall_s']:.2f} s", file=sys.stderr)
            for _ in range(max(1, args.baseline // args.runs)):
                base.append(baseline_once())
        rows = report(results, base, args.students)
        if args.output is not None:
            keep(args.output, args, rows, results, base)
    finally:
        shutil.rmtree(subs, ignore_errors=True)


def keep(
    path: Path,
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    results: dict[int, list[dict[str, Any]]],
    base: list[float],
) -> None:
    """The figures, the runs they come from, and the code and machine they were measured on."""
    import platform

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    data = {
        "bench": "grade_bench", "commit": commit, "kernel": platform.release(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "students": args.students, "runs": args.runs,
        "baseline_median_s": statistics.median(base), "baseline_runs_s": base,
        "table": rows, "runs_by_jobs": {str(j): rs for j, rs in results.items()},
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def report(
    results: dict[int, list[dict[str, Any]]], base: list[float], n: int
) -> list[dict[str, Any]]:
    mib = 1 << 20
    rows = []
    b = statistics.median(base)
    print(f"baseline: tcplab lab check handshake --reference, median {b:.3f} s ({len(base)} runs)")
    print("| -j | median wall (s) | per submission (s) | submissions/s | ratio to baseline |"
          " sandbox peak (MiB) | largest process (MiB) | machine peak (MiB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for j, rs in results.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        rss = max(r["largest_process"] for r in rs)
        print(
            f"| {j} | {wall:.2f} | {wall / n:.3f} | {n / wall:.2f} | {wall / n / b:.3f} | "
            f"{max(r['sandbox_peak'] for r in rs) / mib:.0f} | {rss / mib:.0f} | "
            f"{max(r['machine_peak'] for r in rs) / mib:.0f} |"
        )
        rows.append({"jobs": j, "median_wall_s": wall, "per_submission_s": wall / n,
                     "per_s": n / wall, "ratio_to_baseline": wall / n / b})  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
