"""tcplab run: scenarios, each in a fresh lab; a ladder with expected vs observed; JSON and JUnit."""

from __future__ import annotations

import json
import os
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import typer

from tcplab.engine.runner import Result, run_scenario
from tcplab.engine.scenario import Scenario, collect
from tcplab.errors import EXIT_KERNEL, UsageError
from tcplab.netns.topology import require_root


def run(
    paths: list[str],
    json_out: bool,
    pcap: str | None,
    junit: str | None,
    jobs: int,
    quick: bool,
    verbose: bool,
) -> None:
    scenarios = collect(paths)
    if quick:
        scenarios = [s for s in scenarios if not s.long]
    if pcap is not None and not Path(pcap).is_dir():
        raise UsageError(f"--pcap {pcap}: no such folder", "create it first, or name another")
    if junit is not None and not Path(junit).resolve().parent.is_dir():
        raise UsageError(f"--junit {junit}: its folder does not exist", "name a file in a folder")
    require_root("run")
    results = _run_all(scenarios, pcap, jobs, json_out, verbose)
    if junit:
        write_junit(junit, results)
    if json_out:
        typer.echo(json.dumps([result_json(r) for r in results], indent=2))
    else:
        _summary(results)
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_KERNEL)


def _run_all(
    scenarios: list[Scenario], pcap: str | None, jobs: int, json_out: bool, verbose: bool
) -> list[Result]:
    """Run the scenarios, `jobs` at a time; results are shown in the order given. Ctrl-C stops
    every runner between two steps; each removes its lab on the way out."""
    stop = threading.Event()

    def one(sc: Scenario) -> Result:
        path = os.path.join(pcap, f"{sc.name}.pcap") if pcap else None
        return run_scenario(sc, path, stop)

    results: list[Result] = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for result in pool.map(one, scenarios):
            if not json_out:
                _show(result, verbose)
            results.append(result)
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def _show(result: Result, verbose: bool) -> None:
    from tcplab.cli import render

    sc = result.scenario
    mark = "[green]PASS[/]" if result.ok else "[red]FAIL[/]"
    render.console.print(f"[bold]{sc.name}[/]: {sc.title}  ({sc.path})")
    render.ladder(result.report, only_failed=not verbose)
    render.console.print(f"{mark} {sc.name}\n")


def _summary(results: list[Result]) -> None:
    from tcplab.cli import render

    failed = [r.scenario.name for r in results if not r.ok]
    passed = len(results) - len(failed)
    render.console.print(
        f"{passed} passed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else "")
    )


def result_json(r: Result) -> dict[str, Any]:
    return {
        "scenario": r.scenario.name,
        "file": str(r.scenario.path),
        "title": r.scenario.title,
        "ok": r.ok,
        "sysctl": r.sysctls,
        "report": r.report.to_json(),
    }


def write_junit(path: str, results: list[Result]) -> None:
    failures = sum(not r.ok for r in results)
    suite = ET.Element(
        "testsuite", name="tcplab", tests=str(len(results)), failures=str(failures), errors="0"
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="tcplab.scenarios",
            name=r.scenario.name,
            file=str(r.scenario.path),
        )
        bad = [c for c in r.report.checks if not c.ok]
        if bad:
            text = "\n".join(
                f"{c.name}: expected {c.expected}, got {c.observed} ({c.why})" for c in bad
            )
            fail = ET.SubElement(case, "failure", message=f"{len(bad)} mismatch(es)")
            fail.text = text
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
