"""Per-namespace sysctls (net.*), read and written inside a testbed namespace through /proc/sys."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from tcplab.errors import DefinitionError, EnvironmentProblem
from tcplab.model.endpoint import Sysctls
from tcplab.netns.enter import inside


def _path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def apply(ns: str, values: dict[str, str]) -> None:
    """Write each sysctl in namespace `ns`; DefinitionError for one this kernel does not have."""
    with inside(ns):
        for key, value in values.items():
            path = _path(key)
            if not path.exists():
                raise DefinitionError(
                    f"this kernel has no sysctl {key} in a network namespace",
                    "remove it from the scenario, or use one `sysctl -a` lists",
                )
            try:
                path.write_text(f"{value}\n")
            except OSError as exc:
                raise EnvironmentProblem(
                    f"cannot set {key} = {value} in {ns}: {exc.strerror}",
                    "check that this kernel accepts that value in a network namespace",
                ) from exc


def read(ns: str, keys: list[str]) -> dict[str, str]:
    with inside(ns):
        return {k: _path(k).read_text().strip() for k in keys if _path(k).exists()}


def model_sysctls(ns: str) -> Sysctls:
    """The kernel host's values of the sysctls tcplab's model reads (net.ipv4.<field>); Linux's
    default for one this kernel does not have (tcp_syn_linear_timeouts is new in 6.x)."""
    names = [f.name for f in fields(Sysctls)]
    values = read(ns, [f"net.ipv4.{name}" for name in names])
    found: dict[str, int] = {}
    for name in names:
        text = values.get(f"net.ipv4.{name}", "")
        if text.lstrip("-").isdigit():
            found[name] = int(text)
    return Sysctls(**found)
