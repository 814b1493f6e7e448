"""Benchmark: what one refresh of `tcplab watch` costs (no root needed).

    python3 bench/watch_bench.py [--runs 15]

Every refresh replays the whole exchange seen so far through the model and lays the ladder out
again (tcplab.exercise.watch.Watched.ladder). This times that, median of --runs, for each lab's
recorded reference run (tests/fixtures/labs/LAB/recorded/reference.json), beside the baseline of
building the same lab's ladder once from its lab-check report (evaluate + engine.ladder.build),
and says how it compares with the refresh interval (tcplab.cli.watchcmd.REFRESH).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tcplab.cli.watchcmd import REFRESH  # noqa: E402
from tcplab.engine.ladder import build  # noqa: E402
from tcplab.exercise.catalog import all_labs, get  # noqa: E402
from tcplab.exercise.evaluate import evaluate  # noqa: E402
from tcplab.exercise.recording import Recording  # noqa: E402
from tcplab.exercise.watch import Watched  # noqa: E402
from tests.labcases import recorded  # noqa: E402


def watched(rec: Recording) -> Watched:
    """What watch had seen at the end of the recorded run."""
    return Watched(
        rec.kernel_addr, rec.hosts, rec.ports[0], 0.0, rec.sysctls, list(rec.seen),
        dict(rec.samples), list(rec.listener), list(rec.events),
    )  # fmt: skip


def lab_ladder(name: str, rec: Recording) -> object:
    """The baseline: the ladder a lab check builds (evaluate the run, then lay it out)."""
    return build(evaluate(get(name), rec).report)


def median_ms(work: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"{'lab':<14} {'segments':>8} {'refresh ms':>11} {'lab check ms':>13} {'ratio':>6}")
    worst = 0.0
    for lab in all_labs():
        path = Path(recorded(lab.name, "reference"))
        if not path.is_file():
            continue
        rec = Recording.load(path)
        seen = watched(rec)
        refresh = median_ms(seen.ladder, args.runs)
        once = median_ms(partial(lab_ladder, lab.name, rec), args.runs)
        worst = max(worst, refresh)
        print(f"{lab.name:<14} {len(rec.seen):>8} {refresh:>11.2f} {once:>13.2f} "
              f"{refresh / once:>6.2f}")  # fmt: skip
    print(f"slowest refresh: {worst:.2f} ms = {worst / (REFRESH * 1000):.1%} of the "
          f"{REFRESH * 1000:.0f} ms refresh interval")  # fmt: skip


if __name__ == "__main__":
    main()
