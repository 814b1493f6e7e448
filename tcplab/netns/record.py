"""Ownership records: what tcplab created, so teardown removes exactly that and nothing else.

A lab's record lives in /run/tcplab/labs/CRAFTING/lab.json (a tmpfs: gone after a reboot, like the
namespaces it describes). It is written *before* anything is created and updated after each step, so a
crash at any point leaves a record teardown can finish from. Each namespace is recorded with its inode:
a namespace of the same name made later by someone else is never touched.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from tcplab.errors import UsageError

_T = TypeVar("_T")
RUN_DIR = Path(os.environ.get("TCPLAB_RUN_DIR", "/run/tcplab"))
LABS_DIR = RUN_DIR / "labs"
IFNAME = "tcplab0"
CRAFTING_MAC = "02:74:6c:00:00:01"
KERNEL_MAC = "02:74:6c:00:00:02"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class LabSpec:
    """What a lab is made of: two namespace names, a subnet and the application's port."""

    crafting: str = "ns1"
    kernel: str = "ns2"
    subnet: str = "10.77.0.0/24"
    port: int = 7788
    listen: bool = True  # the application listens on `port` from the start (scenario labs: no)

    def validate(self) -> LabSpec:
        for role, name in (("crafting", self.crafting), ("kernel", self.kernel)):
            if not _NAME_RE.match(name):
                raise UsageError(
                    f"bad {role} namespace name {name!r}",
                    "use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit",
                )
        if self.crafting == self.kernel:
            raise UsageError(
                f"the crafting and kernel namespaces are both {self.crafting!r}",
                "give them different names, e.g. --crafting ns1 --kernel ns2",
            )
        net = self.network
        if net.prefixlen > 30:
            raise UsageError(
                f"subnet {self.subnet} has no room for two hosts", "use a /30 or larger"
            )
        kind = next(
            (
                k
                for k in ("loopback", "multicast", "reserved", "unspecified", "link_local")
                if getattr(net, f"is_{k}")
            ),
            None,
        )
        if net.subnet_of(ipaddress.IPv4Network("0.0.0.0/8")):
            kind = "this-network (0.0.0.0/8)"
        if kind is not None:
            raise UsageError(
                f"subnet {self.subnet} is {kind.replace('_', '-')} address space",
                "use a private subnet such as 10.77.0.0/24",
            )
        if not 1 <= self.port <= 65535:
            raise UsageError(f"port {self.port} is out of range", "use a port from 1 to 65535")
        return self

    @property
    def network(self) -> ipaddress.IPv4Network:
        try:
            return ipaddress.IPv4Network(self.subnet, strict=False)
        except ValueError:
            raise UsageError(
                f"bad subnet {self.subnet!r}", "give an IPv4 subnet such as 10.77.0.0/24"
            ) from None

    @property
    def crafting_addr(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def kernel_addr(self) -> str:
        return str(self.network.network_address + 2)

    @property
    def prefixlen(self) -> int:
        return self.network.prefixlen


@dataclass
class AppRecord:
    pid: int
    start_ticks: int
    control: str


@dataclass
class Builder:
    """The process building a lab right now (cleared when setup completes)."""

    pid: int
    start_ticks: int


@dataclass
class LabRecord:
    spec: LabSpec
    namespaces: dict[str, int] = field(default_factory=dict)  # name -> inode
    cookies: dict[str, int] = field(default_factory=dict)  # name -> netns cookie (never reused)
    app: AppRecord | None = None
    complete: bool = False
    created: float = field(default_factory=time.time)
    builder: Builder | None = None

    @property
    def dir(self) -> Path:
        return LABS_DIR / self.spec.crafting

    @property
    def control_path(self) -> Path:
        return self.dir / "app.sock"

    @property
    def log_path(self) -> Path:
        return self.dir / "app.log"

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(RUN_DIR, 0o755)
        tmp = self.dir / "lab.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, self.dir / "lab.json")

    @classmethod
    def load(cls, path: Path) -> LabRecord:
        data = json.loads(path.read_text())
        app = _known(AppRecord, data["app"]) if data.get("app") else None
        builder = _known(Builder, data["builder"]) if data.get("builder") else None
        return cls(
            spec=_known(LabSpec, data["spec"]),
            namespaces={k: int(v) for k, v in data.get("namespaces", {}).items()},
            cookies={k: int(v) for k, v in data.get("cookies", {}).items()},
            app=app,
            complete=bool(data.get("complete")),
            created=float(data.get("created", 0)),
            builder=builder,
        )


@contextmanager
def labs_locked() -> Iterator[None]:
    """Hold tcplab's lock (flock on /run/tcplab itself, shared with netns_setup.sh) while deciding
    what to build or remove, so two commands never take the same lab apart."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(RUN_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _known(kind: type[_T], data: dict[str, Any]) -> _T:
    """Build a record part from its known fields (a newer tcplab may have written more)."""
    names = {f.name for f in fields(kind)}  # type: ignore[arg-type]
    return kind(**{k: v for k, v in data.items() if k in names})


def all_records() -> Iterator[LabRecord]:
    """Every lab tcplab has a record of (broken records are skipped)."""
    if not LABS_DIR.is_dir():
        return
    for path in sorted(LABS_DIR.glob("*/lab.json")):
        try:
            yield LabRecord.load(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue


def find_record(crafting: str) -> LabRecord | None:
    path = LABS_DIR / crafting / "lab.json"
    try:
        return LabRecord.load(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return LabRecord(spec=LabSpec(crafting=crafting, kernel=""))


def record_using(name: str) -> LabRecord | None:
    """The lab that has a namespace of this name, as crafting or kernel host."""
    for rec in all_records():
        if name in (rec.spec.crafting, rec.spec.kernel):
            return rec
    return None


def _conn_file(spec: LabSpec) -> Path:
    return LABS_DIR / spec.crafting / "connections.json"


def load_connection(spec: LabSpec, sport: int) -> dict[str, int] | None:
    """What tcplab knows of a connection it left open (`handshake --keep`): ISNs, next numbers."""
    try:
        data: dict[str, dict[str, int]] = json.loads(_conn_file(spec).read_text())
    except (OSError, ValueError):
        return None
    return data.get(str(sport))


def save_connection(spec: LabSpec, sport: int, numbers: dict[str, int] | None) -> None:
    """Remember (or, with None, forget) a connection's numbers in the lab's record folder."""
    path = _conn_file(spec)
    if not path.parent.is_dir():
        return
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if numbers is None:
        data.pop(str(sport), None)
    else:
        data[str(sport)] = numbers
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
