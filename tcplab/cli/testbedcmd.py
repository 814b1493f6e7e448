"""setup, teardown, status, sockets."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import typer

from tcplab.cli.tidy import leftovers, tidy
from tcplab.cli.wrap import width
from tcplab.errors import EnvironmentProblem, UsageError
from tcplab.i18n import _
from tcplab.netns.enter import netns_inode
from tcplab.netns.record import (
    BrokenRecord,
    TestbedRecord,
    TestbedSpec,
    all_records,
    find_record,
    record_using,
    scan_records,
    valid_name,
)
from tcplab.netns.topology import namespace_ours, problems, require_root
from tcplab.text import keep, wrap


def _say(text: str, hang: str = "  ") -> None:
    """One message, wrapped to the terminal; its later lines indented by `hang`."""
    body = text.lstrip(" ")
    for line in wrap(body, width(), text[: len(text) - len(body)], hang):
        typer.echo(line)


def setup(crafting: str, kernel: str, subnet: str, port: int) -> None:
    from tcplab.netns import topology

    spec = TestbedSpec(crafting, kernel, subnet, port).validate()
    require_root("setup")
    tidy()
    rec, created = topology.setup(spec)
    s = rec.spec
    if created:
        _say(_ready(s))
    else:
        _say(
            _("testbed already set up: {crafting} ⇄ {kernel}, nothing to do").format(
                crafting=s.crafting, kernel=s.kernel
            )
        )
    _say(_("next: {value}").format(value=keep(f"tcplab handshake --target {s.kernel}:{s.port}")))


def _ready(s: TestbedSpec) -> str:
    return _(
        "testbed ready: {crafting} ({crafting_addr}, crafting host) ⇄ {kernel} "
        "({kernel_addr}, kernel host), application listening on {kernel}:{port}"
    ).format(
        crafting=s.crafting,
        crafting_addr=s.crafting_addr,
        kernel=s.kernel,
        kernel_addr=s.kernel_addr,
        port=s.port,
    )


def adopt(crafting: str, kernel: str, subnet: str, port: int) -> None:
    """`setup --adopt`: namespaces built by hand (netns_setup.sh up) become tcplab's testbed."""
    from tcplab.netns import topology

    spec = TestbedSpec(crafting, kernel, subnet, port).validate()
    require_root("setup")
    tidy()
    s = topology.adopt(spec).spec
    _say(_ready(s))
    _say(_("next: {value}").format(value=keep(f"tcplab handshake --target {s.kernel}:{s.port}")))


def teardown(crafting: str, all_testbeds: bool) -> None:
    from tcplab.netns import topology

    if not all_testbeds:
        valid_name(crafting, "crafting namespace")  # before any path is formed
    require_root("teardown")
    if all_testbeds:
        _teardown_all()
        return
    tidy()
    rec = find_record(crafting)  # an untrusted record: one error, nothing removed
    if rec is None:
        other = record_using(crafting)
        if other is not None:
            raise UsageError(
                _("{crafting} is the kernel host of the testbed of {other}").format(
                    crafting=crafting, other=other.spec.crafting
                ),
                _("name the crafting host: tcplab teardown --crafting {crafting}").format(
                    crafting=other.spec.crafting
                ),
            )
        typer.echo(
            _("nothing to remove: no tcplab testbed with crafting host {crafting}").format(
                crafting=crafting
            )
        )
        return
    _report_removed(rec, topology.teardown(rec))


def _report_removed(rec: TestbedRecord, removed: list[str], orphan: int | None = None) -> None:
    from tcplab.netns.topology import KEPT

    done = [r for r in removed if not r.startswith(KEPT)]
    what = ", ".join(done) if done else _("only its record (the rest was already gone)")
    if orphan is None:
        text = _("removed testbed {crafting} ⇄ {kernel}: {what}")
    else:
        text = _(
            "removed testbed {crafting} ⇄ {kernel} (orphaned: its owner, pid {pid}, is gone): {what}"
        )
    typer.echo(
        text.format(crafting=rec.spec.crafting, kernel=rec.spec.kernel, pid=orphan, what=what)
    )
    for line in removed:
        if line.startswith(KEPT):
            typer.echo(_("left alone: {line}").format(line=line[len(KEPT) :]))
    for name in (rec.spec.crafting, rec.spec.kernel):
        if netns_inode(name) is not None and _("namespace {name}").format(name=name) not in done:
            typer.echo(
                _("left alone: namespace {name} exists but was not created by tcplab").format(
                    name=name
                )
            )


def _teardown_all() -> None:
    """Every testbed whose builder and owner are gone (orphans too); testbeds in use are listed and left,
    untrusted records are listed and left, and the command goes on past each."""
    from tcplab.netns import topology

    tidied = leftovers()  # orphaned testbeds, dead runs' control groups, folders and processes
    for line in tidied:
        typer.echo(line)
    good, broken = scan_records()
    if not good and not broken:
        if not tidied:
            typer.echo(_("nothing to remove: no tcplab testbed"))
        return
    for rec in good:
        busy = topology.in_use(rec)
        if busy is None:
            try:
                removed = topology.teardown(rec)
            except topology.TestbedBusy as exc:
                busy = exc.message
            else:
                _report_removed(rec, removed, rec.owner.pid if rec.owner else None)
                continue
        typer.echo(
            _("left alone: testbed {crafting} ⇄ {kernel} is {busy}").format(
                crafting=rec.spec.crafting, kernel=rec.spec.kernel, busy=busy
            )
        )
    for bad in broken:
        typer.echo(
            _("left alone: record {path} is not trusted: {reason}").format(
                path=bad.path, reason=bad.reason
            )
        )
    if broken:
        raise _untrusted(broken)


def _untrusted(broken: list[BrokenRecord]) -> EnvironmentProblem:
    paths = ", ".join(str(b.path.parent) for b in broken[:3])
    return EnvironmentProblem(
        _("{n_broken} record(s) not trusted, nothing they name was touched: {paths}").format(
            n_broken=len(broken), paths=paths
        ),
        _("check each, then remove its folder by hand"),
    )


def status_of(rec: TestbedRecord) -> dict[str, Any]:
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
    if crafting is not None:
        valid_name(crafting, "crafting namespace")
    require_root("status")
    tidy()
    records, broken = scan_records()
    if crafting is not None:
        records = [r for r in records if r.spec.crafting == crafting]
        broken = [b for b in broken if b.name == crafting]
    if not records and not broken:
        if crafting:
            text = _("no tcplab testbed is set up with crafting host {crafting}")
        else:
            text = _("no tcplab testbed is set up")
        raise EnvironmentProblem(text.format(crafting=crafting), _("run 'sudo tcplab setup'"))
    states = [status_of(r) for r in records]
    if json_out:
        for st in states:
            st["sockets"] = [r.to_json() for r in st["sockets"] or []]
        states += [_broken_state(b) for b in broken]
        typer.echo(json.dumps(states, indent=2))
    else:
        from tcplab.cli import render

        for st in states:
            render.lab_status(st)
        for b in broken:
            _say(
                _("testbed {name}: BROKEN record {path}: {reason}").format(
                    name=b.name, path=b.path, reason=b.reason
                )
            )
            _say(_("tcplab acts on nothing it names; check it, then remove its folder by hand"))
    if broken or not all(st["healthy"] for st in states):
        raise typer.Exit(3)


def _broken_state(b: BrokenRecord) -> dict[str, Any]:
    return {
        "spec": {"crafting": b.name},
        "healthy": False,
        "record": str(b.path),
        "problems": [_("the record is not trusted: {reason}").format(reason=b.reason)],
    }


def sockets(namespace: str, json_out: bool) -> None:
    valid_name(namespace)
    require_root("sockets")
    tidy()
    rec = record_using(namespace)
    if rec is None:
        if not list(all_records()):
            raise EnvironmentProblem(
                _("no testbed is set up (namespace {namespace})").format(namespace=namespace),
                _("run 'sudo tcplab setup' first"),
            )
        names = ", ".join(n for r in all_records() for n in (r.spec.crafting, r.spec.kernel))
        raise UsageError(
            _("{namespace!r} is not a namespace of a tcplab testbed").format(namespace=namespace),
            _("namespaces of testbeds here: {names}").format(names=names),
        )
    if not namespace_ours(rec, namespace):
        raise EnvironmentProblem(
            _("namespace {namespace} is missing or not tcplab's").format(namespace=namespace),
            _("run 'sudo tcplab setup' again"),
        )
    from tcplab.netns.diag import SocketTable

    with SocketTable(namespace) as table:
        rows = table.rows()
    if json_out:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    from tcplab.cli import render

    render.socket_table(rows, _("TCP sockets in {namespace}").format(namespace=namespace))
