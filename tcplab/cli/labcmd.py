"""setup, teardown, status, sockets."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import typer

from tcplab.errors import EnvironmentProblem, UsageError
from tcplab.netns.enter import netns_inode
from tcplab.netns.record import LabRecord, LabSpec, all_records, find_record, record_using
from tcplab.netns.topology import namespace_ours, problems, require_root


def setup(crafting: str, kernel: str, subnet: str, port: int) -> None:
    from tcplab.netns import topology

    spec = LabSpec(crafting, kernel, subnet, port).validate()
    require_root("setup")
    rec, created = topology.setup(spec)
    s = rec.spec
    if created:
        typer.echo(
            f"lab ready: {s.crafting} ({s.crafting_addr}, crafting host) ⇄ {s.kernel} "
            f"({s.kernel_addr}, kernel host), application listening on {s.kernel}:{s.port}"
        )
    else:
        typer.echo(f"lab already set up: {s.crafting} ⇄ {s.kernel}, nothing to do")
    typer.echo(f"next: tcplab handshake --target {s.kernel}:{s.port}")


def teardown(crafting: str, all_labs: bool) -> None:
    from tcplab.netns import topology

    require_root("teardown")
    records = list(all_records()) if all_labs else [r for r in [find_record(crafting)] if r]
    if not records:
        other = None if all_labs else record_using(crafting)
        if other is not None:
            raise UsageError(
                f"{crafting} is the kernel host of the lab of {other.spec.crafting}",
                f"name the crafting host: tcplab teardown --crafting {other.spec.crafting}",
            )
        which = "no tcplab lab" if all_labs else f"no tcplab lab with crafting host {crafting}"
        typer.echo(f"nothing to remove: {which}")
        return
    for rec in records:
        removed = topology.teardown(rec)
        what = ", ".join(removed) if removed else "only its record (the rest was already gone)"
        typer.echo(f"removed lab {rec.spec.crafting} ⇄ {rec.spec.kernel}: {what}")
        for name in (rec.spec.crafting, rec.spec.kernel):
            if netns_inode(name) is not None and name not in " ".join(removed):
                typer.echo(f"left alone: namespace {name} exists but was not created by tcplab")


def status_of(rec: LabRecord) -> dict[str, Any]:
    from tcplab.netns.diag import SocketTable

    details: dict[str, Any] = {}
    found = problems(rec, details)
    sockets = None
    if namespace_ours(rec, rec.spec.kernel):
        with SocketTable(rec.spec.kernel) as table:
            sockets = table.rows()
    return {
        "spec": asdict(rec.spec),
        "healthy": not found,
        **details,
        "sockets": sockets,
        "problems": found,
    }


def status(crafting: str | None, json_out: bool) -> None:
    require_root("status")
    records = list(all_records())
    if crafting is not None:
        records = [r for r in records if r.spec.crafting == crafting]
    if not records:
        which = f" with crafting host {crafting}" if crafting else ""
        raise EnvironmentProblem(f"no tcplab lab is set up{which}", "run 'sudo tcplab setup'")
    states = [status_of(r) for r in records]
    if json_out:
        for st in states:
            st["sockets"] = [r.to_json() for r in st["sockets"] or []]
        typer.echo(json.dumps(states, indent=2))
    else:
        from tcplab.cli import render

        for st in states:
            render.lab_status(st)
    if not all(st["healthy"] for st in states):
        raise typer.Exit(3)


def sockets(namespace: str, json_out: bool) -> None:
    require_root("sockets")
    rec = record_using(namespace)
    if rec is None:
        if not list(all_records()):
            raise EnvironmentProblem(
                f"no lab is set up (namespace {namespace})", "run 'sudo tcplab setup' first"
            )
        raise UsageError(
            f"{namespace!r} is not a namespace of a tcplab lab", "name a lab's namespace, e.g. ns2"
        )
    if not namespace_ours(rec, namespace):
        raise EnvironmentProblem(
            f"namespace {namespace} is missing or not tcplab's", "run 'sudo tcplab setup' again"
        )
    from tcplab.netns.diag import SocketTable

    with SocketTable(namespace) as table:
        rows = table.rows()
    if json_out:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    from tcplab.cli import render

    render.socket_table(rows, f"TCP sockets in {namespace}")
