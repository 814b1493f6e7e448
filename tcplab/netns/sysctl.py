"""Per-namespace sysctls (net.*), read and written inside a testbed namespace through /proc/sys."""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path

from tcplab import linux
from tcplab.errors import DefinitionError, EnvironmentProblem
from tcplab.i18n import _
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
                    _("this kernel has no sysctl {key} in a network namespace").format(key=key),
                    _("remove it from the scenario, or use one `sysctl -a` lists"),
                )
            try:
                path.write_text(f"{value}\n")
            except OSError as exc:
                raise EnvironmentProblem(
                    _("cannot set {key} = {value} in {ns}: {strerror}").format(
                        key=key, value=value, ns=ns, strerror=exc.strerror
                    ),
                    _("check that this kernel accepts that value in a network namespace"),
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


@dataclass(frozen=True)
class Refusal:
    """A sysctl value the kernel would not take, and why (strerror, or that it has no such key)."""

    key: str
    value: str
    reason: str


def try_values(values: list[tuple[str, str]]) -> list[Refusal]:
    """Write each (key, value) in a throw-away network namespace, never the host's or a lab's: what
    the kernel refuses (EINVAL for tcp_ecn = 4, ENOENT for a congestion control it lacks, a key
    that is not per-namespace). The namespace lives in one thread, unshared, and goes with it."""
    out: list[Refusal] = []
    failed: list[BaseException] = []

    def body() -> None:
        try:
            linux.unshare(linux.CLONE_NEWNET)
        except OSError as exc:
            failed.append(exc)
            return
        for key, value in values:
            problem = _try_one(key, value)
            if problem:
                out.append(Refusal(key, value, problem))

    worker = threading.Thread(target=body, name="tcplab-sysctl-try")
    worker.start()
    worker.join()
    if failed:
        exc = failed[0]
        raise EnvironmentProblem(
            _("cannot make a network namespace to try sysctl values: {exc}").format(exc=exc),
            _("run tcplab as root (sudo)"),
        )
    return out


def not_per_namespace() -> str:
    """The reason try_values gives for a sysctl a network namespace does not have."""
    return _("it is not a per-namespace sysctl on this kernel")


def _try_one(key: str, value: str) -> str:
    path = _path(key)  # /proc/sys/net follows the calling thread's namespace
    if not path.exists():
        return not_per_namespace()
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        return os.strerror(exc.errno or errno.EACCES).lower()
    try:
        os.write(fd, f"{value}\n".encode())
    except OSError as exc:
        return os.strerror(exc.errno or errno.EINVAL).lower()
    finally:
        os.close(fd)
    return ""
