#!/usr/bin/env python3
"""Benchmark: tcplab's start-up and handshake against plain baselines, side by side.

    sudo python3 bench/handshake_bench.py [--runs N] [--warmup N] [--strict]

It builds its own lab (uniquely named namespaces, through `tcplab setup`), runs every
measurement interleaved run by run, tears the lab down in `finally` (also on Ctrl-C or SIGTERM),
prints a table of medians, ratios and PASS/MISS, and writes everything to
bench/results/latest.json. See bench/README.md.

Figures (medians over N runs):
  (a) `tcplab --help` wall time        vs  `python -c "import typer"`       target: ratio <= 1.15
  (b) `tcplab handshake --target K:P`   vs  bench/plain_scapy_handshake.py   target: median <= 0.8 s
      (whole process; the plain script runs via `ip netns exec CRAFTING python ...`)  and ratio <= 0.55
  (c) SYN sent -> SYN+ACK observed, in-process: tcplab's timing.syn_to_synack_ms (--json) vs the
      plain script's sr1() duration                                         target: tcplab <= 0.3 ms

tcplab's modules are byte-compiled once before the runs (as an installed package is; with
PYTHONDONTWRITEBYTECODE set, an editable checkout would otherwise be compiled from source by every
command, 60+ modules each time, while scapy and typer come compiled from site-packages).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PLAIN = HERE / "plain_scapy_handshake.py"
RESULTS = HERE / "results" / "latest.json"
PORT = 7788
CMD_TIMEOUT = 60.0

HELP_TARGET = 1.15  # (a) tcplab --help / import typer
HANDSHAKE_TARGET_MS = 800.0  # (b) tcplab handshake median wall time
HANDSHAKE_RATIO = 0.55  # (b) ... and / the plain scapy script
SYN_TARGET_MS = 0.3  # (c) tcplab syn_to_synack median


class Interrupted(Exception):
    """SIGTERM or SIGHUP: turned into an exception so `finally` still tears the lab down."""


def _on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- tools -----------------------------------------------------------------------------------------
def find_tcplab(explicit: str | None) -> str:
    """The tcplab console script of *this* interpreter (not a pyenv/asdf shim, whose own start-up
    would be timed too), unless --tcplab names one."""
    if explicit:
        return explicit
    cand = Path(sysconfig.get_path("scripts")) / "tcplab"
    if cand.is_file():
        return str(cand)
    found = shutil.which("tcplab")
    if found is None:
        sys.exit("tcplab is not installed (pip install -e .)")
    return found


def timed(argv: list[str], check: bool = False) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run argv to completion; (wall seconds, result). Output is captured (same pipes for all)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CMD_TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - t0
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[-500:]}"
        )
    return wall, proc


def compile_tcplab() -> str:
    """Byte-compile the tcplab package the timed commands import (see the module's docstring)."""
    import compileall

    import tcplab as tcplab_pkg

    where = str(Path(tcplab_pkg.__file__).parent)
    ok = compileall.compile_dir(where, quiet=1)
    log(f"byte-compiled {where}" if ok else f"WARNING: could not byte-compile all of {where}")
    return where if ok else f"failed: {where}"


# -- the lab ---------------------------------------------------------------------------------------
def used_subnets() -> set[str]:
    """Subnets of labs that already exist (read-only look at tcplab's records)."""
    from tcplab.netns.record import all_records

    return {r.spec.subnet for r in all_records()}


def pick_lab() -> tuple[str, str, str]:
    token = secrets.token_hex(3)
    taken = used_subnets()
    for _ in range(200):
        subnet = f"10.77.{100 + secrets.randbelow(150)}.0/24"
        if subnet not in taken:
            break
    return f"bench-{token}-c", f"bench-{token}-k", subnet


@contextlib.contextmanager
def lab(tcplab: str, crafting: str, kernel: str, subnet: str) -> Iterator[None]:
    """Set the lab up; always tear it down, even when setup itself fails or is interrupted."""
    try:
        log(f"setting up lab {crafting} <-> {kernel} ({subnet}) ...")
        timed(
            [
                tcplab,
                "setup",
                "--crafting",
                crafting,
                "--kernel",
                kernel,
                "--subnet",
                subnet,
                "--port",
                str(PORT),
            ],
            check=True,
        )
        yield
    finally:
        teardown(tcplab, crafting, kernel)


def teardown(tcplab: str, crafting: str, kernel: str) -> None:
    # Ctrl-C again must not cut the teardown short: ignore it here, and run the teardown in its own
    # session so the terminal's SIGINT does not reach it either.
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        log(f"tearing down lab {crafting} ...")
        proc = subprocess.run(
            [tcplab, "teardown", "--crafting", crafting],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
            check=False,
        )
        if proc.returncode != 0:
            log(f"WARNING: teardown exited {proc.returncode}: {proc.stderr.strip()}")
        left = [n for n in (crafting, kernel) if os.path.exists(f"/run/netns/{n}")]
        if left or Path(f"/run/tcplab/labs/{crafting}").exists():
            log(
                f"WARNING: left behind after teardown: namespaces {left}, "
                f"record {Path(f'/run/tcplab/labs/{crafting}').exists()}"
            )
        else:
            log(f"lab {crafting} <-> {kernel} removed: no namespace, record or application left")
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def abort_plain_connection(crafting: str, crafting_addr: str, sport: int) -> bool:
    """Untimed tidy-up after the plain script: the kernel-side application aborts the connection it
    accepted (as tcplab's own handshake does at its end). Returns whether it had been accepted."""
    from tcplab.app.client import AppClient
    from tcplab.app.protocol import Abort, ListAccepted
    from tcplab.netns.record import find_record

    rec = find_record(crafting)
    assert rec is not None
    with AppClient(str(rec.control_path), timeout=5) as cli:
        deadline = time.monotonic() + 0.5
        while True:
            conns = cli.call(ListAccepted(port=PORT)).connections
            found = [c for c in conns if c.peer == (crafting_addr, sport)]
            if found or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        for c in found:
            cli.call(Abort(id=c.id))
    return bool(found)


# -- statistics ------------------------------------------------------------------------------------
def summary(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0, "median": None, "min": None, "max": None, "q1": None, "q3": None}
    qs = statistics.quantiles(xs, n=4) if len(xs) >= 2 else [xs[0], xs[0], xs[0]]
    return {
        "n": len(xs),
        "median": statistics.median(xs),
        "min": min(xs),
        "max": max(xs),
        "q1": qs[0],
        "q3": qs[2],
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def paired_ratio(a: list[float | None], b: list[float | None]) -> float | None:
    rs = [x / y for x, y in zip(a, b, strict=True) if x is not None and y]
    return statistics.median(rs) if rs else None


# -- the benchmark ---------------------------------------------------------------------------------
def one_run(i: int, ctx: dict[str, Any], samples: dict[str, list[Any]], record: bool) -> None:
    """One interleaved run of every measurement; the order inside each group alternates by run."""
    tcplab, py, crafting, kernel = ctx["tcplab"], ctx["python"], ctx["crafting"], ctx["kernel"]
    target = f"{kernel}:{PORT}"

    def help_cmd() -> None:
        wall, _ = timed([tcplab, "--help"], check=True)
        if record:
            samples["help_s"].append(wall)

    def typer_cmd() -> None:
        wall, _ = timed([py, "-c", "import typer"], check=True)
        if record:
            samples["import_typer_s"].append(wall)

    def hs_text() -> None:
        wall, proc = timed([tcplab, "handshake", "--target", target])
        if record:
            samples["handshake_s"].append(wall)
            samples["handshake_ok"].append(proc.returncode == 0)
        if proc.returncode != 0:
            log(
                f"  run {i}: tcplab handshake exited {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip()[-300:]}"
            )

    def hs_json() -> None:
        wall, proc = timed([tcplab, "handshake", "--target", target, "--json"])
        rep: dict[str, Any] = {}
        with contextlib.suppress(json.JSONDecodeError):
            rep = json.loads(proc.stdout)
        timing = rep.get("timing", {})
        ok = proc.returncode == 0 and bool(rep.get("ok"))
        if record:
            samples["handshake_json_s"].append(wall)
            samples["handshake_json_ok"].append(ok)
            samples["syn_to_synack_ms"].append(timing.get("syn_to_synack_ms"))
            samples["kernel_synack_after_syn_ms"].append(timing.get("kernel_synack_after_syn_ms"))
        if not ok:
            log(f"  run {i}: tcplab handshake --json exited {proc.returncode}, ok={rep.get('ok')}")

    def plain() -> None:
        wall, proc = timed(
            ["ip", "netns", "exec", crafting, py, str(PLAIN), ctx["kernel_addr"], str(PORT)]
        )
        out: dict[str, Any] = {}
        with contextlib.suppress(json.JSONDecodeError, IndexError):
            out = json.loads(proc.stdout.strip().splitlines()[-1])
        accepted = False
        if out.get("sport"):
            accepted = abort_plain_connection(crafting, ctx["crafting_addr"], int(out["sport"]))
        ok = proc.returncode == 0 and bool(out.get("ok")) and accepted
        if record:
            samples["plain_s"].append(wall)
            samples["plain_ok"].append(ok)
            samples["plain_sr1_ms"].append(out.get("sr1_ms"))
            samples["plain_wire_rtt_ms"].append(out.get("wire_rtt_ms"))
        if not ok:
            log(
                f"  run {i}: plain scapy handshake exit {proc.returncode}, out={out}, "
                f"accepted={accepted}, stderr={proc.stderr.strip()[-300:]}"
            )

    def netns_exec() -> None:
        wall, _ = timed(["ip", "netns", "exec", crafting, "true"], check=True)
        if record:
            samples["netns_exec_s"].append(wall)

    groups = [[help_cmd, typer_cmd], [hs_text, hs_json, plain], [netns_exec]]
    for group in groups:
        k = i % len(group)
        for fn in group[k:] + group[:k]:
            fn()


def run_bench(args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    keys = [
        "help_s",
        "import_typer_s",
        "handshake_s",
        "handshake_ok",
        "handshake_json_s",
        "handshake_json_ok",
        "syn_to_synack_ms",
        "kernel_synack_after_syn_ms",
        "plain_s",
        "plain_ok",
        "plain_sr1_ms",
        "plain_wire_rtt_ms",
        "netns_exec_s",
    ]
    samples: dict[str, list[Any]] = {k: [] for k in keys}
    for w in range(args.warmup):
        log(f"warm-up {w + 1}/{args.warmup} (not recorded) ...")
        one_run(w, ctx, samples, record=False)
    for i in range(args.runs):
        one_run(i, ctx, samples, record=True)
        log(
            f"run {i + 1:2d}/{args.runs}: --help {samples['help_s'][-1] * 1e3:6.1f} ms vs import "
            f"typer {samples['import_typer_s'][-1] * 1e3:6.1f} ms | handshake "
            f"{samples['handshake_s'][-1] * 1e3:6.1f} ms (--json "
            f"{samples['handshake_json_s'][-1] * 1e3:6.1f}) vs plain "
            f"{samples['plain_s'][-1] * 1e3:6.1f} ms | SYN->SYN+ACK "
            f"{_fmt(samples['syn_to_synack_ms'][-1], 3)} ms vs sr1 "
            f"{_fmt(samples['plain_sr1_ms'][-1], 1)} ms"
        )
    return samples


def _fmt(x: float | None, nd: int) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def analyse(samples: dict[str, list[Any]]) -> dict[str, Any]:
    """Medians over the runs that worked (a failed handshake's times are not comparable)."""
    hs_ok = samples["handshake_ok"]
    js_ok = samples["handshake_json_ok"]
    pl_ok = samples["plain_ok"]

    def good(key: str, oks: list[bool]) -> list[float]:
        return [x for x, ok in zip(samples[key], oks, strict=True) if ok and x is not None]

    s = {
        "help_ms": summary([x * 1e3 for x in samples["help_s"]]),
        "import_typer_ms": summary([x * 1e3 for x in samples["import_typer_s"]]),
        "handshake_ms": summary([x * 1e3 for x in good("handshake_s", hs_ok)]),
        "handshake_json_ms": summary([x * 1e3 for x in good("handshake_json_s", js_ok)]),
        "plain_ms": summary([x * 1e3 for x in good("plain_s", pl_ok)]),
        "syn_to_synack_ms": summary(good("syn_to_synack_ms", js_ok)),
        "plain_sr1_ms": summary(good("plain_sr1_ms", pl_ok)),
        "kernel_synack_after_syn_ms": summary(good("kernel_synack_after_syn_ms", js_ok)),
        "plain_wire_rtt_ms": summary(good("plain_wire_rtt_ms", pl_ok)),
        "netns_exec_ms": summary([x * 1e3 for x in samples["netns_exec_s"]]),
    }
    med = {k: v["median"] for k, v in s.items()}
    both = [a and b for a, b in zip(hs_ok, pl_ok, strict=True)]
    comparisons = {
        "a_help_vs_import_typer": {
            "tcplab_median_ms": med["help_ms"],
            "baseline_median_ms": med["import_typer_ms"],
            "ratio": ratio(med["help_ms"], med["import_typer_ms"]),
            "paired_ratio_median": paired_ratio(samples["help_s"], samples["import_typer_s"]),
            "target": f"ratio <= {HELP_TARGET}",
        },
        "b_handshake_vs_plain_scapy": {
            "tcplab_median_ms": med["handshake_ms"],
            "baseline_median_ms": med["plain_ms"],
            "ratio": ratio(med["handshake_ms"], med["plain_ms"]),
            "paired_ratio_median": paired_ratio(
                [x if ok else None for x, ok in zip(samples["handshake_s"], both, strict=True)],
                samples["plain_s"],
            ),
            "target": f"<= {HANDSHAKE_TARGET_MS:g} ms and ratio <= {HANDSHAKE_RATIO}",
        },
        "c_syn_to_synack_vs_sr1": {
            "tcplab_median_ms": med["syn_to_synack_ms"],
            "baseline_median_ms": med["plain_sr1_ms"],
            "ratio": ratio(med["syn_to_synack_ms"], med["plain_sr1_ms"]),
            "paired_ratio_median": paired_ratio(
                [
                    x if ok else None
                    for x, ok in zip(
                        samples["syn_to_synack_ms"],
                        [a and b for a, b in zip(js_ok, pl_ok, strict=True)],
                        strict=True,
                    )
                ],
                samples["plain_sr1_ms"],
            ),
            "target": f"tcplab median <= {SYN_TARGET_MS} ms",
        },
    }
    a, b, c = (comparisons[k] for k in comparisons)
    a["verdict"] = _verdict(a["ratio"] is not None and a["ratio"] <= HELP_TARGET, a["ratio"])
    b["verdict"] = _verdict(
        b["ratio"] is not None
        and b["ratio"] <= HANDSHAKE_RATIO
        and b["tcplab_median_ms"] <= HANDSHAKE_TARGET_MS,
        b["ratio"],
    )
    c["verdict"] = _verdict(
        c["tcplab_median_ms"] is not None and c["tcplab_median_ms"] <= SYN_TARGET_MS,
        c["tcplab_median_ms"],
    )
    failures = {
        "tcplab_handshake": hs_ok.count(False),
        "tcplab_handshake_json": js_ok.count(False),
        "plain_scapy_handshake": pl_ok.count(False),
    }
    return {"summary": s, "comparisons": comparisons, "failures": failures}


def _verdict(passed: bool, value: float | None) -> str:
    if value is None:
        return "NO DATA"
    return "PASS" if passed else "MISS"


def print_table(res: dict[str, Any], runs: int) -> None:
    s, c, f = res["summary"], res["comparisons"], res["failures"]

    def m(key: str, nd: int = 1) -> str:
        return _fmt(s[key]["median"], nd)

    def r(x: float | None) -> str:
        return _fmt(x, 2)

    rows = [
        (
            "(a) start-up",
            "tcplab --help",
            f"{m('help_ms')} ms",
            'python -c "import typer"',
            f"{m('import_typer_ms')} ms",
            r(c["a_help_vs_import_typer"]["ratio"]),
            c["a_help_vs_import_typer"]["target"],
            c["a_help_vs_import_typer"]["verdict"],
        ),
        (
            "(b) handshake",
            "tcplab handshake",
            f"{m('handshake_ms')} ms",
            "plain scapy script",
            f"{m('plain_ms')} ms",
            r(c["b_handshake_vs_plain_scapy"]["ratio"]),
            c["b_handshake_vs_plain_scapy"]["target"],
            c["b_handshake_vs_plain_scapy"]["verdict"],
        ),
        (
            "(c) SYN->SYN+ACK",
            "syn_to_synack_ms",
            f"{m('syn_to_synack_ms', 3)} ms",
            "sr1() call",
            f"{m('plain_sr1_ms', 2)} ms",
            r(c["c_syn_to_synack_vs_sr1"]["ratio"]),
            c["c_syn_to_synack_vs_sr1"]["target"],
            c["c_syn_to_synack_vs_sr1"]["verdict"],
        ),
    ]
    head = ("figure", "tcplab", "median", "baseline", "median", "ratio", "target", "result")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(f"medians over {runs} interleaved runs (ratio = tcplab median / baseline median)")
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    print()
    print("context (not targets):")
    print(f"  tcplab handshake --json wall time     {m('handshake_json_ms')} ms")
    print(
        f"  ip netns exec CRAFTING true           {m('netns_exec_ms')} ms "
        "(part of the plain script's wall time)"
    )
    print(
        f"  kernel SYN->SYN+ACK (tcplab, kernel stamps at the kernel host)  "
        f"{m('kernel_synack_after_syn_ms', 3)} ms"
    )
    print(
        f"  scapy SYN sent_time->SYN+ACK stamp (plain script)             "
        f"{m('plain_wire_rtt_ms', 3)} ms"
    )
    print(
        "  paired per-run ratio medians:"
        f" (a) {r(c['a_help_vs_import_typer']['paired_ratio_median'])}"
        f"  (b) {r(c['b_handshake_vs_plain_scapy']['paired_ratio_median'])}"
        f"  (c) {_fmt(c['c_syn_to_synack_vs_sr1']['paired_ratio_median'], 4)}"
    )
    if any(f.values()):
        print(f"  FAILED runs (left out of the medians): {f}")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=15, help="measured runs (default 15)")
    ap.add_argument("--warmup", type=int, default=1, help="unrecorded warm-up runs (default 1)")
    ap.add_argument("--tcplab", default=None, help="tcplab executable (default: this Python's)")
    ap.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be >= 1 and --warmup >= 0")
    if os.geteuid() != 0:
        sys.exit("the benchmark builds network namespaces: run it as root (sudo)")
    if shutil.which("ip") is None:
        sys.exit("the ip command (iproute2) is needed for 'ip netns exec'")

    from tcplab.netns.record import TestbedSpec

    tcplab = find_tcplab(args.tcplab)
    compiled = compile_tcplab()
    crafting, kernel, subnet = pick_lab()
    spec = TestbedSpec(crafting, kernel, subnet, PORT)
    ctx = {
        "tcplab": tcplab,
        "python": sys.executable,
        "crafting": crafting,
        "kernel": kernel,
        "kernel_addr": spec.kernel_addr,
        "crafting_addr": spec.crafting_addr,
    }

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    started = time.time()
    try:
        with lab(tcplab, crafting, kernel, subnet):
            samples = run_bench(args, ctx)
    except (KeyboardInterrupt, Interrupted) as exc:
        log(f"interrupted ({type(exc).__name__} {exc}); the lab was torn down, nothing written")
        return 130
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        log(f"error: {exc}; the lab was torn down, nothing written")
        return 2

    res = analyse(samples)
    print_table(res, args.runs)
    import scapy
    import typer

    import tcplab as tcplab_pkg

    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "runs": args.runs,
        "warmup": args.warmup,
        "bytecode": compiled,
        "environment": {
            "kernel": platform.release(),
            "python": platform.python_version(),
            "python_executable": sys.executable,
            "cpus": os.cpu_count(),
            "tcplab": tcplab_pkg.__version__,
            "tcplab_executable": tcplab,
            "scapy": scapy.VERSION,
            "typer": typer.__version__,
        },
        "lab": {"crafting": crafting, "kernel": kernel, "subnet": subnet, "port": PORT},
        "commands": {
            "a_tcplab": [tcplab, "--help"],
            "a_baseline": [sys.executable, "-c", "import typer"],
            "b_tcplab": [tcplab, "handshake", "--target", f"{kernel}:{PORT}"],
            "b_tcplab_json": [tcplab, "handshake", "--target", f"{kernel}:{PORT}", "--json"],
            "b_baseline": [
                "ip",
                "netns",
                "exec",
                crafting,
                sys.executable,
                str(PLAIN),
                spec.kernel_addr,
                str(PORT),
            ],
            "context_netns_exec": ["ip", "netns", "exec", crafting, "true"],
        },
        **res,
        "samples": samples,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nresults written to {args.output}")
    missed = [k for k, v in res["comparisons"].items() if v["verdict"] != "PASS"]
    if any(res["failures"].values()):
        return 2
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
