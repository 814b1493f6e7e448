"""How fast the kernel-side application starts: today's way against a baseline, side by side.

Each round starts the application once the new way (this tree's `supervise.argv`, its code) and once
the baseline way (`python -m tcplab.app.server` without -S, the code of --baseline-rev, extracted
with `git archive` into a temporary folder), in alternating order. Each start is timed from spawn to
the "ready" line on its ready pipe (wall), and its CPU (user + system, from getrusage of children)
is taken once it has been stopped with SIGTERM and reaped. Medians and the ratio new/baseline are
printed; the target is a ratio of at most 1/3 for both wall and CPU.

No namespace and no traffic: the application is started with --listen 0 (no listener) and a control
socket in a temporary folder, both removed at the end, also on Ctrl-C.

    python3 bench/app_start_bench.py [--rounds 30] [--baseline-rev e6e5226] [--strict]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import select
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

TREE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TREE))

from tcplab.app import supervise  # noqa: E402

TARGET = 1 / 3


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start_once(cmd_of: object, pythonpath: str, folder: str) -> tuple[float, float]:
    """(wall s from spawn to ready, CPU s of the whole process) of one start."""
    control = os.path.join(folder, "ctl")
    read_fd, write_fd = os.pipe()
    cmd = cmd_of(control, write_fd)  # type: ignore[operator]
    env = {**os.environ, "PYTHONPATH": pythonpath}
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, pass_fds=(write_fd,), env=env, cwd="/",
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 10.0)
        line = os.read(read_fd, 64) if ready else b""
        wall = time.perf_counter() - t0
        if line.strip() != b"ready":
            raise SystemExit(f"error: the application did not start: {cmd}")
    finally:
        os.close(read_fd)
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
    return wall, _children_cpu() - cpu0


def new_cmd(control: str, ready_fd: int) -> list[str]:
    return supervise.argv(control, 0, ready_fd, None)


def old_cmd(control: str, ready_fd: int) -> list[str]:
    return [sys.executable, "-m", supervise.MODULE, "--control", control,
            "--listen", "0", "--ready-fd", str(ready_fd)]  # fmt: skip


def extract(rev: str, into: str) -> None:
    """The tcplab package of `rev` into the folder `into`."""
    tar = subprocess.run(["git", "-C", str(TREE), "archive", rev, "tcplab"],
                         check=True, capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(into, filter="data")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--baseline-rev", default="e6e5226", help="git revision of the baseline")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    new: list[tuple[float, float]] = []
    old: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="tcplab-appbench-") as tmp:
        base = os.path.join(tmp, "baseline")
        extract(args.baseline_rev, base)
        for i in range(args.rounds + 1):  # round 0 warms the page cache, unrecorded
            pair = [(new, new_cmd, str(TREE)), (old, old_cmd, base)]
            for into, cmd_of, path in pair if i % 2 else pair[::-1]:
                got = start_once(cmd_of, path, tmp)
                if i:
                    into.append(got)
    bytecode = "off" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(f"application start, {args.rounds} interleaved rounds (writing .pyc: {bytecode})")
    print(f"{'':10}{'baseline':>12}{'new':>12}{'ratio':>8}{'target':>8}")
    missed = False
    for k, name in ((0, "wall ms"), (1, "CPU ms")):
        b = statistics.median(x[k] for x in old) * 1000
        n = statistics.median(x[k] for x in new) * 1000
        missed |= n / b > TARGET
        print(f"{name:10}{b:12.1f}{n:12.1f}{n / b:8.2f}{TARGET:8.2f}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
