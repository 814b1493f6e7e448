#!/usr/bin/env python3
"""Benchmark: `tcplab lab check LAB --reference`, side by side with a plain scapy handshake.

    sudo python3 bench/labcheck_bench.py [--runs N] [--labs a,b] [--before TCPLAB] [--strict]

Each run times, interleaved and in an order that rotates from run to run:
  - `tcplab lab check handshake --reference` (the target: median <= 1.2 s);
  - the baseline: bench/plain_scapy_handshake.py inside the crafting namespace of a lab this
    script builds (`ip netns exec C python plain_scapy_handshake.py ADDR PORT`), a fresh Python
    that imports scapy and completes one handshake;
  - with --before TCPLAB: the same lab check by another tcplab (e.g. a checkout before a change);
  - `tcplab lab check LAB --reference` for each of --labs (context, no target).
Every lab check must give full marks (exit 0), else the run counts as failed. The lab is removed
in `finally` (also on Ctrl-C, SIGTERM, SIGHUP); each lab check removes its own testbed. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handshake_bench import (  # noqa: E402
    PLAIN,
    PORT,
    Interrupted,
    _on_signal,
    abort_plain_connection,
    find_tcplab,
    lab,
    log,
    pick_lab,
    summary,
    timed,
)

RESULTS = Path(__file__).resolve().parent / "results" / "labcheck.json"
TARGET_S = 1.2  # `lab check handshake --reference`, median wall time
CONTEXT_LABS = ("third-segment", "active-close", "rst")


def _check(tcplab: str, name: str) -> tuple[float, bool, str]:
    wall, proc = timed([tcplab, "lab", "check", name, "--reference"])
    return wall, proc.returncode == 0, (proc.stderr or proc.stdout).strip()[-300:]


def one_run(i: int, ctx: dict[str, Any], samples: dict[str, list[Any]], record: bool) -> None:
    """Every measurement once; the order rotates with `i`."""

    def target() -> None:
        wall, ok, why = _check(ctx["tcplab"], "handshake")
        _keep(samples, "handshake", wall, ok, record, i, why)

    def before() -> None:
        wall, ok, why = _check(ctx["before"], "handshake")
        _keep(samples, "before", wall, ok, record, i, why)

    def plain() -> None:
        argv = ["ip", "netns", "exec", ctx["crafting"], ctx["python"], str(PLAIN)]
        wall, proc = timed([*argv, ctx["kernel_addr"], str(PORT)])
        out: dict[str, Any] = {}
        with contextlib.suppress(json.JSONDecodeError, IndexError):
            out = json.loads(proc.stdout.strip().splitlines()[-1])
        accepted = bool(out.get("sport")) and abort_plain_connection(
            ctx["crafting"], ctx["crafting_addr"], int(out["sport"])
        )
        ok = proc.returncode == 0 and bool(out.get("ok")) and accepted
        _keep(samples, "plain", wall, ok, record, i, proc.stderr.strip()[-300:])

    def context(name: str) -> Any:
        def run() -> None:
            wall, ok, why = _check(ctx["tcplab"], name)
            _keep(samples, f"lab:{name}", wall, ok, record, i, why)

        return run

    group = [target, plain, *([before] if ctx["before"] else [])]
    k = i % len(group)
    for fn in group[k:] + group[:k]:
        fn()
    for name in ctx["labs"]:
        context(name)()


def _keep(
    samples: dict[str, list[Any]], key: str, wall: float, ok: bool, record: bool, i: int, why: str
) -> None:
    if not ok:
        log(f"  run {i}: {key} failed: {why}")
    if record:
        samples.setdefault(key, []).append(wall if ok else None)


def analyse(samples: dict[str, list[Any]]) -> dict[str, Any]:
    good = {k: [x for x in v if x is not None] for k, v in samples.items()}
    med = {k: statistics.median(v) if v else None for k, v in good.items()}
    plain = med.get("plain")
    out: dict[str, Any] = {"summary": {k: summary(v) for k, v in good.items()}}
    out["failures"] = {k: sum(x is None for x in v) for k, v in samples.items()}
    hs = med.get("handshake")
    out["target"] = {
        "figure": "tcplab lab check handshake --reference, median wall time",
        "median_s": hs,
        "target_s": TARGET_S,
        "ratio_to_plain_scapy": hs / plain if hs and plain else None,
        "paired_ratio_to_plain_scapy": _paired(samples.get("handshake"), samples.get("plain")),
        "verdict": "PASS" if hs is not None and hs <= TARGET_S else "MISS",
    }
    if "before" in med:
        b = med["before"]
        out["before"] = {
            "median_s": b,
            "ratio_now_to_before": hs / b if hs and b else None,
            "paired_ratio_now_to_before": _paired(samples.get("handshake"), samples["before"]),
        }
    return out


def _paired(a: list[float | None] | None, b: list[float | None] | None) -> float | None:
    rs = [x / y for x, y in zip(a or [], b or [], strict=False) if x is not None and y]
    return statistics.median(rs) if rs else None


def show(result: dict[str, Any], runs: int) -> None:
    s, t = result["summary"], result["target"]

    def ms(key: str) -> str:
        m = s.get(key, {}).get("median")
        return "-" if m is None else f"{m * 1000:7.0f} ms"

    def r(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    print(f"\nmedians over {runs} interleaved runs (wall time of the whole command)")
    print(f"  lab check handshake --reference   {ms('handshake')}   target <= {TARGET_S} s: "
          f"{t['verdict']}")  # fmt: skip
    print(f"  plain scapy handshake (baseline)  {ms('plain')}   ratio {r(t['ratio_to_plain_scapy'])}"
          f" (paired {r(t['paired_ratio_to_plain_scapy'])})")  # fmt: skip
    if "before" in result:
        b = result["before"]
        print(f"  the same check, --before tcplab   {ms('before')}   now/before "
              f"{r(b['ratio_now_to_before'])} (paired {r(b['paired_ratio_now_to_before'])})")  # fmt: skip
    for key in s:
        if key.startswith("lab:"):
            print(f"  context: lab check {key[4:]:<15} {ms(key)}")
    if any(result["failures"].values()):
        print(f"  FAILED runs (left out of the medians): {result['failures']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--runs", type=int, default=9, help="measured runs (default 9)")
    ap.add_argument("--warmup", type=int, default=1, help="unrecorded warm-up runs (default 1)")
    ap.add_argument("--tcplab", default=None, help="tcplab executable (default: this Python's)")
    ap.add_argument("--before", default=None, help="another tcplab to time the same check with")
    ap.add_argument("--labs", default=",".join(CONTEXT_LABS), help="context labs ('' for none)")
    ap.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = ap.parse_args()
    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be >= 1 and --warmup >= 0")
    if os.geteuid() != 0:
        sys.exit("the benchmark builds network namespaces: run it as root (sudo)")
    from tcplab.netns.record import TestbedSpec

    tcplab = find_tcplab(args.tcplab)
    crafting, kernel, subnet = pick_lab()
    spec = TestbedSpec(crafting, kernel, subnet, PORT)
    ctx = {
        "tcplab": tcplab, "before": args.before, "python": sys.executable,
        "crafting": crafting, "kernel_addr": spec.kernel_addr,
        "crafting_addr": spec.crafting_addr, "labs": [x for x in args.labs.split(",") if x],
    }  # fmt: skip
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    samples: dict[str, list[Any]] = {}
    try:
        with lab(tcplab, crafting, kernel, subnet):
            for w in range(args.warmup):
                log(f"warm-up {w + 1}/{args.warmup} (not recorded) ...")
                one_run(w, ctx, samples, record=False)
            for i in range(args.runs):
                one_run(i, ctx, samples, record=True)
                last = {k: v[-1] for k, v in samples.items()}
                log(f"run {i + 1}/{args.runs}: " + ", ".join(
                    f"{k} {'-' if v is None else f'{v * 1000:.0f} ms'}" for k, v in last.items()
                ))  # fmt: skip
    except (KeyboardInterrupt, Interrupted):
        log("interrupted: nothing written")
        return 130
    result = analyse(samples)
    result.update(runs=args.runs, commands={"tcplab": tcplab, "before": args.before}, lab=ctx)
    result["samples"] = samples
    result["finished"] = time.time()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    show(result, args.runs)
    print(f"\nwritten: {args.output}")
    if any(result["failures"].values()):
        return 2
    return 1 if args.strict and result["target"]["verdict"] != "PASS" else 0


if __name__ == "__main__":
    sys.exit(main())
