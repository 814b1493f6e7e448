"""Benchmark: the scenario corpus without long timers, lab setup included (issue target: <= 10 s).

    python3 bench/corpus_bench.py [--runs N]

Runs `tcplab run scenarios --quick` with -j 1 and -j 2, interleaved, N times each, and prints the
median wall times. As a floor beside them it prints the time the scenarios themselves ask to wait
(sleep and expect_silence steps): no runner can be faster than that, sequentially.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcplab.engine.scenario import collect  # noqa: E402


def wall(jobs: int) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tcplab",
            "run",
            str(REPO / "scenarios"),
            "--quick",
            "-j",
            str(jobs),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"tcplab run failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    quick = [s for s in collect([str(REPO / "scenarios")]) if not s.long]
    floor = sum(
        st.seconds for s in quick for st in s.steps if st.kind in ("sleep", "expect_silence")
    )
    times: dict[int, list[float]] = {1: [], 2: []}
    for i in range(args.runs):
        for jobs in (1, 2) if i % 2 == 0 else (2, 1):
            times[jobs].append(wall(jobs))
        print(f"run {i + 1}/{args.runs}: -j1 {times[1][-1]:.2f} s, -j2 {times[2][-1]:.2f} s")
    result = {
        "scenarios": len(quick),
        "median_j1_s": statistics.median(times[1]),
        "median_j2_s": statistics.median(times[2]),
        "waits_floor_s": floor,
        "target_s": 10.0,
        "samples": times,
    }
    print(
        f"\n{len(quick)} scenarios without long timers, each in a fresh testbed (median of "
        f"{args.runs}):"
    )
    print(
        f"  -j 1: {result['median_j1_s']:.2f} s   -j 2: {result['median_j2_s']:.2f} s   "
        f"target <= 10 s: {'PASS' if result['median_j2_s'] <= 10 else 'MISS'}"
    )
    print(
        f"  floor: the scenarios' own sleeps and silences add up to {floor:.2f} s; "
        f"-j1 / floor = {result['median_j1_s'] / floor:.2f}"
    )
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "corpus.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
