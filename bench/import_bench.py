"""What importing tcplab's parts costs: each module's cumulative import time and the scapy and
pyroute2 modules it loads, for one source tree or two side by side (before and after a change).

    python3 bench/import_bench.py                       # this checkout
    python3 bench/import_bench.py --tree /tmp/old .     # two trees, alternating; ratio = last/first

Each figure is the median over --runs fresh interpreters of `python -X importtime -c "import M"`
(the cumulative microseconds of M's own line), with the tree first on the path. No root needed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

MODULES = (
    "tcplab.model.endpoint",
    "tcplab.exercise.kit",
    "tcplab.grade.outputs",
    "tcplab.engine.report",
    "tcplab.app.server",
    "tcplab.cli",
)


def measure(tree: Path, module: str) -> tuple[int, int, int]:
    """(cumulative µs, scapy modules, pyroute2 modules) of one fresh import of module."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        check=True,
    )
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    names = [line.rsplit("|", 1)[1].strip() for line in lines]
    total = next(int(line.split("|")[1]) for line in reversed(lines) if line.endswith(module))
    scapy = sum(1 for n in names if n.split(".")[0] == "scapy")
    pyroute2 = sum(1 for n in names if n.split(".")[0] == "pyroute2")
    return total, scapy, pyroute2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", nargs="+", type=Path, default=[Path(".")])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree]
    print(f"{'module':<22}" + "".join(f"{t.name[:18]:>24}" for t in trees) + "   ratio")
    for module in MODULES:
        times: dict[Path, list[int]] = {t: [] for t in trees}
        loads: dict[Path, tuple[int, int]] = {}
        for _ in range(args.runs):
            for tree in trees:  # alternate, so drift weighs on every tree alike
                total, scapy, pyroute2 = measure(tree, module)
                times[tree].append(total)
                loads[tree] = (scapy, pyroute2)
        medians = [statistics.median(times[t]) / 1000 for t in trees]
        cells = "".join(
            f"{m:>9.1f} ms {loads[t][0]:>3} sc {loads[t][1]:>3} pr"
            for m, t in zip(medians, trees, strict=True)
        )
        ratio = f"{medians[-1] / medians[0]:>7.2f}" if len(trees) > 1 else ""
        print(f"{module:<22}{cells}{ratio}")
    print("sc/pr: scapy/pyroute2 modules loaded; ms: median cumulative import time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
