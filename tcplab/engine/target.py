"""Targets: 'ns2:7788' or 'ADDRESS:PORT', checked and resolved to a testbed before anything is sent."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from tcplab import defaults
from tcplab.errors import EnvironmentProblem, UsageError
from tcplab.i18n import N_, _
from tcplab.netns.record import TestbedRecord, TestbedSpec, all_records
from tcplab.netns.topology import healthy

TARGET_HINT = N_("write the target as NAMESPACE:PORT or ADDRESS:PORT, e.g. {TARGET}")


def _target_hint() -> str:
    return _(TARGET_HINT).format(TARGET=defaults.TARGET)


@dataclass(frozen=True)
class Target:
    spec: TestbedSpec
    port: int


def _shown(text: str, limit: int = 40) -> str:
    """User text quoted for a message: escapes, and at most `limit` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def parse_port(text: str, what: str | None = None) -> int:
    """A port in ASCII digits only (str.isdigit and int() also take '²' and '٣')."""
    text = text.strip()
    what = what or _("port")
    if not text:
        raise UsageError(
            _("the {what} is empty").format(what=what),
            _("give a port from 1 to 65535, e.g. {TARGET}").format(TARGET=defaults.TARGET),
        )
    if not (text.isascii() and text.isdigit()):
        raise UsageError(
            _("the {what} is not a number: {value}").format(what=what, value=_shown(text)),
            _("give a port from 1 to 65535 in the digits 0-9"),
        )
    port = int(text) if len(text) <= 5 else 1 << 16
    if not 1 <= port <= 65535:
        shown = text if len(text) <= 12 else text[:12] + "…"
        raise UsageError(
            _("the {what} is out of range: {shown}").format(what=what, shown=shown),
            _("give a port from 1 to 65535"),
        )
    return port


def parse_target(text: str) -> tuple[str, int]:
    """'ns2:7788' -> ('ns2', 7788); UsageError with a hint for anything else."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        raise UsageError(_("target {value} has no port").format(value=_shown(text)), _target_hint())
    if not host:
        raise UsageError(
            _("target {value} has no namespace or address").format(value=_shown(text)),
            _target_hint(),
        )
    return host, parse_port(port, _("port in target {target}").format(target=_shown(text)))


def _is_address(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def resolve(text: str, need_healthy: bool = True) -> Target:
    """The testbed and port a target names; raises UsageError or EnvironmentProblem with a hint."""
    host, port = parse_target(text)
    records = list(all_records())
    rec = _by_address(host, records) if _is_address(host) else _by_name(host, records)
    if need_healthy and not healthy(rec):
        raise EnvironmentProblem(
            _("the testbed of {crafting}/{kernel} is incomplete or broken").format(
                crafting=rec.spec.crafting, kernel=rec.spec.kernel
            ),
            _(
                "run 'sudo tcplab setup' again to repair it ('sudo tcplab status' "
                "shows what is wrong)"
            ),
        )
    return Target(rec.spec, port)


def _no_lab(host: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        _("no testbed is set up (target {host})").format(host=host),
        _("run 'sudo tcplab setup' first"),
    )


def _by_name(host: str, records: list[TestbedRecord]) -> TestbedRecord:
    for rec in records:
        if rec.spec.kernel == host:
            return rec
        if rec.spec.crafting == host:
            raise UsageError(
                _("{host} is the crafting host; segments are sent from it, not to it").format(
                    host=host
                ),
                _("target the kernel host: {kernel}:PORT").format(kernel=rec.spec.kernel),
            )
    if not records:
        raise _no_lab(host)
    known = ", ".join(r.spec.kernel for r in records)
    raise UsageError(
        _("unknown namespace {host!r} in the target").format(host=host),
        _("kernel hosts of testbeds here: {known}").format(known=known),
    )


def _by_address(host: str, records: list[TestbedRecord]) -> TestbedRecord:
    found = [r for r in records if r.spec.kernel_addr == host]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(r.spec.kernel for r in found)
        raise UsageError(
            _("address {host} is the kernel host of several testbeds ({names})").format(
                host=host, names=names
            ),
            _("name the namespace instead, e.g. {KERNEL}:PORT").format(KERNEL=defaults.KERNEL),
        )
    if any(r.spec.crafting_addr == host for r in records):
        raise UsageError(
            _("{host} is the crafting host's own address").format(host=host),
            _("target the kernel host's address"),
        )
    if not records:
        raise _no_lab(host)
    inside = ", ".join(f"{r.spec.kernel} = {r.spec.kernel_addr}" for r in records)
    raise UsageError(
        _(
            "address {host} is outside the testbed; tcplab sends only to a testbed's kernel host"
        ).format(host=host),
        _("kernel hosts here: {inside}").format(inside=inside),
    )
