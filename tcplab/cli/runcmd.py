"""tcplab run: scenarios, each in a fresh testbed; a ladder with expected vs observed; JSON and JUnit."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import typer

from tcplab import junit
from tcplab.cli import picture
from tcplab.cli.tidy import stop_waiting, tidy
from tcplab.cli.wrap import para
from tcplab.engine.batch import Testbeds, longest_first
from tcplab.engine.runner import ScenarioResult, could_not_run, run_on
from tcplab.engine.scenario import Scenario, collect
from tcplab.engine.words import english
from tcplab.errors import (
    EXIT_KERNEL,
    DefinitionError,
    EnvironmentProblem,
    TcplabError,
    UsageError,
)
from tcplab.i18n import N_, _
from tcplab.netns.topology import require_root
from tcplab.text import printable
from tcplab.userfile import Refused, check_folder, check_writable, write_output


def run(
    paths: list[str],
    json_out: bool,
    pcap: str | None,
    junit: str | None,
    jobs: int,
    quick: bool,
    verbose: bool,
    absolute: bool = False,
    svg: str | None = None,
) -> None:
    scenarios = collect(paths)
    if quick:
        scenarios = [s for s in scenarios if not s.long]
        if not scenarios:
            raise UsageError(
                _("every scenario given has long timers; --quick leaves nothing to run"),
                _("drop --quick, or name scenarios without long timers"),
            )
    captures = _capture_paths(scenarios, pcap)
    _check_outputs(junit, captures)
    pictures = picture.svg_folder(svg, [sc.name for sc in scenarios])
    require_root("run")
    check_sysctls(scenarios)
    tidy()
    results = _run_all(scenarios, captures, jobs, json_out, verbose, absolute)
    if json_out:
        typer.echo(json.dumps([result_json(r) for r in results], indent=2))
    else:
        _summary(results)
    if junit:
        write_junit(junit, results)
    for result, where in zip(results, pictures, strict=True):  # after the results are safe
        if where is not None:
            picture.write_svg(where, result.report, relative=not absolute)
    _raise_errors(results)
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_KERNEL)


def check_sysctls(scenarios: list[Scenario]) -> None:
    """Every sysctl value a scenario writes, tried in a throw-away namespace before anything runs:
    the kernel's refusal (tcp_ecn = 4, a congestion control a namespace may not use) is exit 2
    with the file and line, not a failure half-way through a batch."""
    from tcplab.netns.sysctl import try_values

    writes = [(sc, key, value, line) for sc in scenarios for key, value, line in sc.sysctl_writes()]
    if not writes:
        return
    refused = {
        (r.key, r.value): r.reason for r in try_values(sorted({(k, v) for _, k, v, _ in writes}))
    }
    for sc, key, value, line in writes:
        reason = refused.get((key, value))
        if reason is not None:
            raise DefinitionError(
                _("{path}:{line}: the kernel refuses sysctl {key} = {value}: {reason}").format(
                    path=sc.path, line=line, key=key, value=value, reason=reason
                ),
                _sysctl_hint(key, reason),
            )


def _sysctl_hint(key: str, reason: str) -> str:
    if key.endswith("congestion_control"):
        try:
            allowed = Path("/proc/sys/net/ipv4/tcp_allowed_congestion_control").read_text().split()
        except OSError:
            allowed = []
        if allowed:
            return _(
                "a network namespace may use only those in tcp_allowed_congestion_control: "
                "{allowed}"
            ).format(allowed=", ".join(allowed))
        return _("a network namespace may use only those in tcp_allowed_congestion_control")
    from tcplab.netns.sysctl import not_per_namespace

    if reason == not_per_namespace():
        return _("use a sysctl that each network namespace has (most net.ipv4.tcp_* do)")
    return _(
        "use a value this kernel takes for {key} (see the kernel's ip-sysctl documentation)"
    ).format(key=key)


def _raise_errors(results: list[ScenarioResult]) -> None:
    """After every result is shown: the scenarios that could not run, as one error (its code)."""
    failed = [r for r in results if r.error is not None]
    if not failed:
        return
    first = failed[0].error
    assert first is not None
    names = ", ".join(r.scenario.name for r in failed)
    cls = type(first) if isinstance(first, UsageError) else EnvironmentProblem
    raise cls(
        _("{n} of {total} scenarios could not run ({names}): {message}").format(
            n=len(failed), total=len(results), names=names, message=first.message
        ),
        first.hint or _("the others ran; their results are above"),
    )


def _capture_paths(scenarios: list[Scenario], folder: str | None) -> list[str | None]:
    """Where each scenario's capture goes: FOLDER/NAME.pcap, NAME.2.pcap for a second scenario
    of the same name (e.g. a scenario and its mutant), so no capture overwrites another."""
    if folder is None:
        return [None] * len(scenarios)
    seen: dict[str, int] = {}
    out: list[str | None] = []
    for sc in scenarios:
        seen[sc.name] = seen.get(sc.name, 0) + 1
        n = seen[sc.name]
        out.append(os.path.join(folder, f"{sc.name}.pcap" if n == 1 else f"{sc.name}.{n}.pcap"))
    return out


def _check_outputs(junit: str | None, captures: list[str | None]) -> None:
    """Every output path can be written, before anything runs: a run's results are never lost to
    a path that cannot be written (a folder as --junit, /proc/sys as --pcap, a FIFO)."""
    if junit is not None:
        try:
            check_writable(junit)
        except Refused as exc:
            raise UsageError(
                _("cannot write --junit {exc}").format(exc=exc),
                _("name a file in a folder you can write to"),
            ) from None
    folder = os.path.dirname(captures[0]) if captures and captures[0] else None
    if folder is None:
        return
    try:
        check_folder(folder)
        for path in captures:
            if path is not None and os.path.lexists(path):
                check_writable(path)
    except Refused as exc:
        raise UsageError(
            _("cannot write --pcap {exc}").format(exc=exc),
            _("name a folder you can write files in"),
        ) from None


def _run_all(
    scenarios: list[Scenario],
    captures: list[str | None],
    jobs: int,
    json_out: bool,
    verbose: bool,
    absolute: bool = False,
) -> list[ScenarioResult]:
    """Run the scenarios, `jobs` at a time, the longest first, each on a fresh testbed built
    while the ones before it run and removed behind it (tcplab.engine.batch); results are shown
    in the order given. Ctrl-C stops every runner between two steps; every testbed is removed."""
    stop = threading.Event()
    order = longest_first(scenarios)
    beds = Testbeds([sc.port for sc in scenarios], order, jobs)

    def one(position: int) -> tuple[ScenarioResult, Future[list[str]] | None]:
        index = order[position]
        try:
            rec = beds.take(position)
        except (TcplabError, OSError) as exc:  # one scenario's failure never stops the others
            return could_not_run(scenarios[index], exc), None
        try:
            result = run_on(rec, scenarios[index], captures[index], stop)
        except (TcplabError, OSError) as exc:
            result = could_not_run(scenarios[index], exc)
        finally:
            removal = beds.remove(rec)
        return result, removal

    results: list[ScenarioResult] = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(one, position) for position in range(len(order))]
        at = {index: position for position, index in enumerate(order)}
        for index in range(len(scenarios)):
            result = _removed(*futures[at[index]].result())
            if not json_out:
                _show(result, verbose, absolute)
            results.append(result)
    except KeyboardInterrupt:
        stop_waiting(stop)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        beds.close()
    return results


def _removed(result: ScenarioResult, removal: Future[list[str]] | None) -> ScenarioResult:
    """The result once its testbed is gone: a removal that failed is the scenario's error."""
    if removal is not None:
        try:
            removal.result()
        except (TcplabError, OSError) as exc:
            return could_not_run(result.scenario, exc)
    return result


def _show(result: ScenarioResult, verbose: bool, absolute: bool = False) -> None:
    from tcplab.cli import render

    sc = result.scenario
    verdict = _("PASS") if result.ok else _("FAIL")
    mark = f"[green]{verdict}[/]" if result.ok else f"[red]{verdict}[/]"
    name = render.safe(sc.name)
    con = render.console()
    title = f": {printable(_(sc.title))}  ({printable(str(sc.path))})"
    para(con, [(printable(sc.name), "bold"), (title, "")], hang="    ")  # wrapped to the width
    render.ladder(result.report, only_failed=not verbose, relative=not absolute)
    if result.error is not None:
        error = _("ERROR")
        mark = f"[red]{error}[/]"
        text = _("could not run: {message}").format(message=printable(result.error.message))
        para(con, [(text, "")], hang="    ")
    con.print(f"{mark} {name}\n")


def _summary(results: list[ScenarioResult]) -> None:
    from tcplab.cli import render

    failed = [printable(r.scenario.name) for r in results if not r.ok]
    passed = len(results) - len(failed)
    some = _("{passed} passed, {failed} failed: {names}")
    text = (some if failed else _("{passed} passed, {failed} failed")).format(
        passed=passed, failed=len(failed), names=", ".join(failed)
    )
    para(render.console(), text, hang="    ")


def result_json(r: ScenarioResult) -> dict[str, Any]:
    return {
        "scenario": r.scenario.name,
        "file": str(r.scenario.path),
        "title": r.scenario.title,
        "ok": r.ok,
        "sysctl": r.sysctls,
        "error": None
        if r.error is None
        else {"message": r.error.message, "hint": r.error.hint, "exit": r.error.exit_code},
        "report": r.report.to_json(),
    }


def write_junit(path: str, results: list[ScenarioResult]) -> None:
    """JUnit XML (text from scenario files goes through printable(): XML 1.0 has no control
    characters), written without following a symlink or blocking on a FIFO."""
    cases = [
        junit.Case(
            "tcplab.scenarios",
            printable(r.scenario.name, one_line=True),
            file=printable(str(r.scenario.path), one_line=True),
            problem=_problem(r),
        )
        for r in results
    ]
    data = junit.suite_xml(junit.Suite("tcplab", cases))
    try:
        write_output(path, data)
    except Refused as exc:
        raise EnvironmentProblem(
            _("cannot write --junit {exc}").format(exc=exc), _(_JUNIT_LOST)
        ) from None


def _problem(r: ScenarioResult) -> junit.Problem | None:
    if r.error is not None:
        return junit.Problem("could not run", printable(r.error.message))
    bad = [c for c in r.report.checks if not c.ok]
    if not bad:
        return None
    # JUnit's text is for tools and logs: the checks' English keys, whatever the language
    text = "\n".join(
        f"{c.key or c.name}: expected {english(c.expected)}, got {english(c.observed)} ({c.why})"
        for c in bad
    )
    return junit.Problem(f"{len(bad)} mismatch(es)", printable(text))


_JUNIT_LOST = N_("the results are shown above; run again with another --junit file")
