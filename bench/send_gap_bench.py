"""How far apart consecutive `send` steps leave: the kernel host's capture times of N crafted RSTs to
a closed port (no answer, nothing else on the link), sent by a scenario of N send steps in a row.

Run as root: `sudo python3 bench/send_gap_bench.py [--sends 20]`. It runs the scenario on a fresh
testbed (tcplab's own run path, removed afterwards) and prints the median and largest gap, and
the time tcplab spends per segment building the frame (scapy) and parsing the capture (scapy).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tcplab.engine.report import SegmentRow
from tcplab.engine.runner import run_scenario
from tcplab.engine.scenario import load
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.wire.packet import Endpoints, parse_frame, to_frame


def scenario(sends: int) -> str:
    steps = "".join(f'[[step]]\nsend = "R {i}:{i}(0)"\n' for i in range(sends))
    return f'[scenario]\ntitle = "send gap"\nport = 9\n{steps}[[step]]\nexpect_silence = 0.05\n'


def per_frame(n: int = 200) -> tuple[float, float]:
    """(build, parse) in ms per segment."""
    ends = Endpoints("10.77.0.1", "10.77.0.2", "02:74:6c:00:00:01", "02:74:6c:00:00:02")
    seg = Segment(40000, 9, Flags.RST, seq=1)
    to_frame(seg, ends)
    t = time.perf_counter()
    for _ in range(n):
        frame = to_frame(seg, ends)
    build = (time.perf_counter() - t) / n * 1000
    t = time.perf_counter()
    for _ in range(n):
        parse_frame(frame)
    return build, (time.perf_counter() - t) / n * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sends", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "send-gap.toml"
        path.write_text(scenario(args.sends))
        result = run_scenario(load(path))
    rows = [r for r in result.report.rows if isinstance(r, SegmentRow)]
    times = [r.seen.time for r in rows if not r.seen.from_kernel]  # capture times, crafted
    gaps = [(b - a) * 1000 for a, b in zip(times, times[1:], strict=False)]
    build, parse = per_frame()
    print(f"{len(times)} crafted segments captured, {len(gaps)} gaps")
    print(
        f"gap between consecutive sends: median {statistics.median(gaps):.3f} ms, "
        f"max {max(gaps):.3f} ms"
    )
    print(f"per segment: build {build:.3f} ms, parse {parse:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
