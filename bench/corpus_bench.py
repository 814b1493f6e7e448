"""Benchmark: the scenario corpus without long timers, lab setup included, beside main's tcplab.

    sudo python3 bench/corpus_bench.py [--runs N] [--baseline PATH] [--strict]

Runs `tcplab run scenarios --quick --json` with -j 1 and -j 2, each beside the same command of a
baseline tcplab (default: main's, /opt/tcplab/venv/bin/tcplab), interleaved and in rotating order, N
times each. It prints the median wall times, their ratio to the baseline's, and the floor: the time
the scenarios themselves ask to wait (sleep and expect_silence steps), over -j. Every run's verdicts
(each scenario's, each check's) are compared with the baseline run beside it; a difference is listed.
Exit 0; 1 with --strict when the target (-j 2 <= 4 s, or the floor if higher) is missed or a verdict
differs; 2 when a command could not run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcplab.engine.scenario import collect  # noqa: E402

TARGET_S = 4.0
MAIN = "/opt/tcplab/venv/bin/tcplab"
Verdicts = dict[str, tuple[bool, tuple[tuple[str, bool], ...]]]


def tcplab_of(python: str) -> str:
    """The console script beside this interpreter (not a shim)."""
    return str(Path(python).parent / "tcplab")


def wall(exe: str, jobs: int) -> tuple[float, Verdicts]:
    """One run of the quick corpus: its wall time and every verdict."""
    argv = [exe, "run", str(REPO / "scenarios"), "--quick", "--json", "-j", str(jobs)]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.stderr.write(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        sys.exit(2)
    return took, verdicts(json.loads(proc.stdout))


def verdicts(results: list[dict[str, Any]]) -> Verdicts:
    out: Verdicts = {}
    for r in results:
        checks = tuple((c.get("key") or c["name"], bool(c["ok"])) for c in r["report"]["checks"])
        out[r["scenario"]] = (bool(r["ok"]), checks)
    return out


def differences(mine: Verdicts, base: Verdicts) -> list[str]:
    """The scenarios whose verdict or checks differ between the two runs."""
    out = []
    for name in sorted(set(mine) | set(base)):
        a, b = mine.get(name), base.get(name)
        if a == b:
            continue
        if a is None or b is None:
            out.append(f"{name}: only in {'baseline' if a is None else 'tcplab'}")
            continue
        changed = sorted(set(a[1]) ^ set(b[1]))
        out.append(f"{name}: ok {a[0]} vs baseline {b[0]}; checks differing: {changed[:4]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tcplab", default=tcplab_of(sys.executable), help="the tcplab to time")
    ap.add_argument("--baseline", default=MAIN, help="the tcplab to compare with (main's)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = ap.parse_args()
    quick = [s for s in collect([str(REPO / "scenarios")]) if not s.long]
    floor = sum(
        st.seconds for s in quick for st in s.steps if st.kind in ("sleep", "expect_silence")
    )
    longest = max(
        sum(st.seconds for st in s.steps if st.kind in ("sleep", "expect_silence")) for s in quick
    )
    sides = {"tcplab": args.tcplab, "baseline": args.baseline}
    times: dict[str, dict[int, list[float]]] = {k: {1: [], 2: []} for k in sides}
    diffs: list[str] = []
    for i in range(args.runs):
        for jobs in (1, 2) if i % 2 == 0 else (2, 1):
            got: dict[str, Verdicts] = {}
            for side in ("tcplab", "baseline") if (i + jobs) % 2 else ("baseline", "tcplab"):
                took, got[side] = wall(sides[side], jobs)
                times[side][jobs].append(took)
            diffs += [
                f"run {i + 1} -j{jobs}: {d}" for d in differences(got["tcplab"], got["baseline"])
            ]
        print(
            f"run {i + 1}/{args.runs}: -j1 {times['tcplab'][1][-1]:.2f} s "
            f"(baseline {times['baseline'][1][-1]:.2f}), -j2 {times['tcplab'][2][-1]:.2f} s "
            f"(baseline {times['baseline'][2][-1]:.2f})",
            file=sys.stderr,
        )
    med = {s: {j: statistics.median(times[s][j]) for j in (1, 2)} for s in sides}
    floors = {j: max(floor / j, longest) for j in (1, 2)}
    goal = max(TARGET_S, floors[2])
    met = med["tcplab"][2] <= goal
    result = {
        "scenarios": len(quick),
        "median_s": {s: {f"j{j}": med[s][j] for j in (1, 2)} for s in sides},
        "ratio": {f"j{j}": med["tcplab"][j] / med["baseline"][j] for j in (1, 2)},
        "waits_floor_s": {f"j{j}": floors[j] for j in (1, 2)},
        "target_s": TARGET_S,
        "target_met": met,
        "verdict_differences": diffs,
        "commands": {
            s: [exe, "run", "scenarios", "--quick", "--json", "-j", "N"] for s, exe in sides.items()
        },
        "samples": times,
    }
    print(
        f"\n{len(quick)} scenarios without long timers, each in a fresh testbed (median of {args.runs}):"
    )
    print(f"{'':6}{'tcplab':>10}{'baseline':>10}{'ratio':>8}{'floor':>8}")
    for j in (1, 2):
        print(
            f"-j {j}  {med['tcplab'][j]:9.2f}s {med['baseline'][j]:9.2f}s "
            f"{med['tcplab'][j] / med['baseline'][j]:7.2f} {floors[j]:7.2f}s"
        )
    print(
        f"target: -j 2 <= {TARGET_S:g} s, or the floor ({floors[2]:.2f} s: the scenarios' own sleeps "
        f"and silences, {floor:.2f} s in all, over 2) where that is higher: {'PASS' if met else 'MISS'}"
    )
    print(f"verdicts: {'all the same as the baseline' if not diffs else f'{len(diffs)} differ'}")
    for d in diffs:
        print(f"  {d}")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "corpus.json").write_text(json.dumps(result, indent=2))
    print(f"written: {out / 'corpus.json'}")
    if args.strict and (not met or diffs):
        sys.exit(1)


if __name__ == "__main__":
    main()
