"""Ownership records: what tcplab created, so teardown removes exactly that and nothing else.

A testbed's record lives in /run/tcplab/labs/CRAFTING/lab.json (a tmpfs: gone after a reboot, like the
namespaces it describes). The on-disk names ("labs", "lab.json", the format tag "tcplab-lab/1") date
from when the testbed was called "the lab"; they are kept so older versions and netns_setup.sh read
and write the same records. It is written *before* anything is created and updated after each step, so a
crash at any point leaves a record teardown can finish from. Each namespace is recorded with its inode
and cookie: a namespace of the same name made later by someone else is never touched.

A record is acted on only when it is one tcplab wrote: the testbed's name is a namespace name (checked
before any path is formed), its folder and file are real (no symlink, no FIFO: opened with O_NOFOLLOW
and O_NONBLOCK), owned by root and writable by nobody else, the file is small, carries tcplab's format
tag and passes the same validation as the command line. Anything else is an untrusted record: listed,
never acted on. Records of the previous version (no format tag, no command lines) are accepted when
every other check passes: their processes are then identified by pid, start time and, for the
application, the control socket on its command line.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tcplab import defaults
from tcplab.context import LabContext
from tcplab.errors import EnvironmentProblem, UsageError
from tcplab.i18n import _
from tcplab.model.kept import KeptConnection
from tcplab.netns import lock
from tcplab.netns.proc import ProcessId, valid

IFNAME = "tcplab0"
CRAFTING_MAC = "02:74:6c:00:00:01"
KERNEL_MAC = "02:74:6c:00:00:02"
FORMAT = "tcplab-lab/1"  # on-disk names kept for compatibility (see above)
RECORD = "lab.json"
CONTROL = "app.sock"  # the application's control socket
MAX_RECORD_BYTES = 64 * 1024
# Every file tcplab (or netns_setup.sh) writes in a testbed's record folder; teardown removes these only.
RECORD_FILES = (
    RECORD,
    f"{RECORD}.tmp",
    CONTROL,
    "app.log",
    "connections.json",
    "connections.tmp",
    "app.pid",
    "app.pid.tmp",
    "ready",
)
# As `ip netns` (no '/', not '.' or '..', shorter than NAME_MAX), and stricter: a letter or digit
# first, then letters, digits, '_', '.', '-', at most 64 in all.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Address space a testbed may use: private (RFC 1918) and shared (RFC 6598), nothing routed elsewhere.
TESTBED_SPACE = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def valid_name(name: object, role: str = "namespace") -> str:
    """`name` if it is a namespace name tcplab accepts; UsageError before any path is formed."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        shown = "".join(c if c.isprintable() else "?" for c in str(name))[:80]
        raise UsageError(
            _("bad {role} name {shown!r}").format(role=role, shown=shown),
            _("use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit (no '/')"),
        )
    return name


def run_path() -> Path:
    """Where tcplab keeps its lock and the testbeds' records: $TCPLAB_RUN_DIR (tests point it
    elsewhere), else /run/tcplab. Read at each use, never when this module loads."""
    return Path(os.environ.get("TCPLAB_RUN_DIR", "/run/tcplab"))


def testbeds_path() -> Path:
    """The folder of the testbeds' record folders (named "labs" on disk, for compatibility)."""
    return run_path() / "labs"


def control_path(crafting: str) -> Path:
    """The kernel-side application's control socket, in the testbed's folder."""
    return testbeds_path() / valid_name(crafting) / CONTROL


@dataclass(frozen=True)
class TestbedSpec:
    """What a testbed is made of: two namespace names, a subnet and the application's port."""

    __test__ = False  # a testbed, not a class of pytest tests
    crafting: str = defaults.CRAFTING
    kernel: str = defaults.KERNEL
    subnet: str = defaults.SUBNET
    port: int = defaults.APP_PORT
    listen: bool = True  # the application listens on `port` from the start (scenario testbeds: no)

    def validate(self) -> TestbedSpec:
        valid_name(self.crafting, "crafting namespace")
        valid_name(self.kernel, "kernel namespace")
        if self.crafting == self.kernel:
            raise UsageError(
                _("the crafting and kernel namespaces are both {crafting!r}").format(
                    crafting=self.crafting
                ),
                _("give them different names, e.g. --crafting {CRAFTING} --kernel {KERNEL}").format(
                    CRAFTING=defaults.CRAFTING, KERNEL=defaults.KERNEL
                ),
            )
        _check_subnet(self.subnet, self.network)
        if type(self.port) is not int or not 1 <= self.port <= 65535:
            raise UsageError(
                _("port {port} is out of range").format(port=self.port),
                _("use a port from 1 to 65535"),
            )
        if type(self.listen) is not bool:
            raise UsageError(
                _("listen {listen!r} is not true or false").format(listen=self.listen), ""
            )
        return self

    @property
    def network(self) -> ipaddress.IPv4Network:
        try:
            return ipaddress.IPv4Network(self.subnet, strict=False)
        except (ValueError, TypeError):
            raise UsageError(
                _("bad subnet {subnet!r}").format(subnet=self.subnet),
                _("give an IPv4 subnet such as {SUBNET}").format(SUBNET=defaults.SUBNET),
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


def _check_subnet(text: str, net: ipaddress.IPv4Network) -> None:
    if net.prefixlen > 30:
        raise UsageError(
            _("subnet {text} has no room for two hosts").format(text=text), _("use a /30 or larger")
        )
    kinds = ("loopback", "multicast", "reserved", "unspecified", "link_local")
    kind = next((k for k in kinds if getattr(net, f"is_{k}")), None)
    if net.subnet_of(ipaddress.IPv4Network("0.0.0.0/8")):
        kind = "this-network (0.0.0.0/8)"
    if kind is not None:
        raise UsageError(
            _("subnet {text} is {kind} address space").format(
                text=text, kind=kind.replace("_", "-")
            ),
            _("use a private subnet such as {SUBNET}").format(SUBNET=defaults.SUBNET),
        )
    if not any(net.subnet_of(space) for space in TESTBED_SPACE):
        raise UsageError(
            _("subnet {text} is not private testbed address space").format(text=text),
            _(
                "use a subnet inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or "
                "100.64.0.0/10, e.g. {SUBNET}"
            ).format(SUBNET=defaults.SUBNET),
        )


@dataclass
class AppRecord:
    pid: int
    start_ticks: int
    control: str
    cmdline: list[str] | None = None  # None only in records of older versions


class UntrustedRecord(EnvironmentProblem):
    """A record tcplab will not act on: not a regular file of root's, or garbled."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            _("the record {path} is not trusted: {reason}").format(path=path, reason=reason),
            _("tcplab acts on nothing it names; check it, then remove {folder} by hand").format(
                folder=path.parent
            ),
        )
        self.path = path
        self.reason = reason


@dataclass
class BrokenRecord:
    """A record folder whose record is not trusted, with the reason (shown by status)."""

    name: str
    path: Path
    reason: str


@dataclass
class TestbedRecord:
    __test__ = False  # a testbed's record, not a class of pytest tests
    spec: TestbedSpec
    namespaces: dict[str, int] = field(default_factory=dict)  # name -> inode
    cookies: dict[str, int] = field(default_factory=dict)  # name -> netns cookie (never reused)
    app: AppRecord | None = None
    complete: bool = False
    created: float = field(default_factory=time.time)
    builder: ProcessId | None = None
    owner: ProcessId | None = None  # the process using an ephemeral testbed (run, lab check, grade)

    @property
    def dir(self) -> Path:
        return testbeds_path() / valid_name(self.spec.crafting)

    @property
    def control_path(self) -> Path:
        return control_path(self.spec.crafting)

    @property
    def log_path(self) -> Path:
        return self.dir / "app.log"

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def save(self) -> None:
        with record_dir(self.spec.crafting, create=True) as dfd:
            assert dfd is not None
            tmp = f"{RECORD}.tmp"
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o644, dir_fd=dfd)
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(self.to_json(), indent=2))
            os.replace(tmp, RECORD, src_dir_fd=dfd, dst_dir_fd=dfd)

    @classmethod
    def load(cls, path: Path) -> TestbedRecord:
        """The record at LABS/NAME/lab.json, if it is trusted (UntrustedRecord if not)."""
        name = valid_name(path.parent.name)
        with record_dir(name, testbeds=path.parent.parent) as dfd:
            if dfd is None:
                raise FileNotFoundError(errno.ENOENT, "no such record", str(path))
            return _parse(read_file(dfd, RECORD, path), path)


def _open_dir_at(parent: int | None, name: str, path: Path, create: bool) -> int | None:
    """Open a folder of tcplab's without following a symlink; None if it is missing."""
    if create:
        with suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent)
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent
        )
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UntrustedRecord(
                path / RECORD, _("{path} is not a directory").format(path=path)
            ) from None
        raise
    st = os.fstat(fd)
    if st.st_uid != lock.OWNER_UID or stat.S_IMODE(st.st_mode) & 0o022:
        os.close(fd)
        raise UntrustedRecord(path / RECORD, _("{path} is not root's alone").format(path=path))
    return fd


@contextmanager
def testbeds_dir(create: bool = False, testbeds: Path | None = None) -> Iterator[int | None]:
    """An fd of the testbeds' folder (root's, a real directory; a group- or world-writable mode is
    fixed), or None if there is none and `create` is false."""
    testbeds = testbeds_path() if testbeds is None else testbeds
    if create:
        lock.ensure_run_dir()
    elif not os.path.lexists(testbeds):
        yield None
        return
    fd = lock.secure_dir(testbeds, 0o755)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def record_dir(
    name: str, create: bool = False, testbeds: Path | None = None
) -> Iterator[int | None]:
    """An fd of one testbed's record folder (checked as a record's folder must be), or None."""
    valid_name(name)
    with testbeds_dir(create, testbeds) as lfd:
        path = (testbeds_path() if testbeds is None else testbeds) / name
        fd = None if lfd is None else _open_dir_at(lfd, name, path, create)
        try:
            yield fd
        finally:
            if fd is not None:
                os.close(fd)


def read_file(dfd: int, name: str, path: Path, limit: int = MAX_RECORD_BYTES) -> bytes:
    """A small regular file of root's in a record folder, read without following a symlink or
    blocking on a FIFO. FileNotFoundError if it is missing; UntrustedRecord if it is not such a
    file."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dfd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UntrustedRecord(path, _("{name} is a symlink").format(name=name)) from None
        if exc.errno == errno.ENOENT:
            raise
        raise UntrustedRecord(
            path, _("{name} cannot be opened: {strerror}").format(name=name, strerror=exc.strerror)
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedRecord(
                path,
                _("{name} is not a regular file ({value})").format(
                    name=name, value=_kind(st.st_mode)
                ),
            )
        if st.st_uid != lock.OWNER_UID or stat.S_IMODE(st.st_mode) & 0o022 or st.st_nlink != 1:
            raise UntrustedRecord(
                path,
                _("{name} is not a file tcplab wrote (owner, mode or links)").format(name=name),
            )
        if st.st_size > limit:
            raise UntrustedRecord(
                path, _("{name} is larger than {limit} bytes").format(name=name, limit=limit)
            )
        return os.read(fd, limit + 1)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket"}
    return next((text for test, text in kinds.items() if test(mode)), "a device")


def _parse(raw: bytes, path: Path) -> TestbedRecord:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(_("not a JSON object"))
        if data.get("format", FORMAT) != FORMAT:
            raise ValueError(
                _("format {found!r} is not {FORMAT}").format(
                    found=str(data.get("format"))[:40], FORMAT=FORMAT
                )
            )
        rec = _record_from(data)
    except RecursionError:
        raise UntrustedRecord(path, _("garbled: nested too deeply")) from None
    except UsageError as exc:
        raise UntrustedRecord(path, _("garbled: {message}").format(message=exc.message)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UntrustedRecord(
            path, _("garbled: {value}").format(value=str(exc)[:120] or type(exc).__name__)
        ) from None
    if rec.spec.crafting != path.parent.name:
        raise UntrustedRecord(
            path,
            _("it names crafting host {crafting}, not its folder").format(
                crafting=rec.spec.crafting
            ),
        )
    return rec


def _strict(kind: Any, data: object, **types: type) -> Any:
    """A record part from a JSON object whose known fields have exactly these types."""
    if not isinstance(data, dict):
        raise TypeError(_("{kind} is not an object").format(kind=kind.__name__))
    for key, want in types.items():
        if key in data and data[key] is not None and type(data[key]) is not want:
            raise TypeError(
                _("{kind}.{key} is not a {want}").format(
                    kind=kind.__name__, key=key, want=want.__name__
                )
            )
    return kind(**{k: v for k, v in data.items() if k in types})


def _process(data: object) -> ProcessId | None:
    if data is None:
        return None
    proc = _strict(ProcessId, data, pid=int, start_ticks=int, cmdline=list)
    if not valid(proc):
        raise ValueError(_("a recorded process has a bad pid, start time or command line"))
    return proc  # type: ignore[no-any-return]


def _inodes(data: object, names: tuple[str, str]) -> dict[str, int]:
    if not isinstance(data, dict):
        raise TypeError(_("namespaces or cookies is not an object"))
    for name, number in data.items():
        if name not in names or type(number) is not int or number <= 0:
            raise ValueError(
                _("a recorded namespace ({name!r}) is not one of this testbed's").format(
                    name=str(name)[:70]
                )
            )
    return dict(data)


def _record_from(data: dict[str, Any]) -> TestbedRecord:
    spec = _strict(
        TestbedSpec, data["spec"], crafting=str, kernel=str, subnet=str, port=int, listen=bool
    )
    spec.validate()
    names = (spec.crafting, spec.kernel)
    app = None
    if data.get("app") is not None:
        app = _strict(AppRecord, data["app"], pid=int, start_ticks=int, control=str, cmdline=list)
        if not valid(ProcessId(app.pid, app.start_ticks, app.cmdline)):
            raise ValueError(_("the application's pid, start time or command line is bad"))
        if app.control != str(control_path(spec.crafting)):
            raise ValueError(_("the application's control socket is not in the testbed's folder"))
    if type(data.get("complete", False)) is not bool:
        raise TypeError(_("complete is not true or false"))
    created = data.get("created", 0)
    if type(created) not in (int, float):
        raise TypeError(_("created is not a number"))
    return TestbedRecord(
        spec=spec,
        namespaces=_inodes(data.get("namespaces", {}), names),
        cookies=_inodes(data.get("cookies", {}), names),
        app=app,
        complete=data.get("complete", False),
        created=float(created),
        builder=_process(data.get("builder")),
        owner=_process(data.get("owner")),
    )


def testbeds_locked() -> AbstractContextManager[None]:
    """Hold tcplab's lock (shared with netns_setup.sh) while deciding what to build or remove."""
    from tcplab.netns import topology  # its signal holding tells a wait that Ctrl-C came

    return lock.locked(topology.signal_pending)


def scan_records() -> tuple[list[TestbedRecord], list[BrokenRecord]]:
    """Every testbed tcplab has a trusted record of, and every record folder it does not trust."""
    good: list[TestbedRecord] = []
    broken: list[BrokenRecord] = []
    with testbeds_dir() as lfd:
        if lfd is None:
            return good, broken
        for name in sorted(os.listdir(lfd)):
            path = testbeds_path() / name / RECORD
            try:
                good.append(_load_at(lfd, name, path))
            except FileNotFoundError:
                continue  # removed meanwhile
            except UntrustedRecord as exc:
                broken.append(BrokenRecord(_printable(name), exc.path, exc.reason))
            except UsageError as exc:
                broken.append(BrokenRecord(_printable(name), path, exc.message))
    return good, broken


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _load_at(lfd: int, name: str, path: Path) -> TestbedRecord:
    valid_name(name, "record folder")
    fd = _open_dir_at(lfd, name, path.parent, create=False)
    if fd is None:
        raise FileNotFoundError(errno.ENOENT, "no such record", str(path))
    try:
        try:
            raw = read_file(fd, RECORD, path)
        except FileNotFoundError:
            raise UntrustedRecord(
                path, _("{parent} has no {RECORD}").format(parent=path.parent, RECORD=RECORD)
            ) from None
        return _parse(raw, path)
    finally:
        os.close(fd)


def all_records() -> list[TestbedRecord]:
    """Every testbed tcplab has a trusted record of (see scan_records for the others)."""
    return scan_records()[0]


def find_record(crafting: str) -> TestbedRecord | None:
    """The testbed of this crafting host; None if there is none, UntrustedRecord if its record is not
    one tcplab can trust, UsageError if the name is not a namespace name."""
    valid_name(crafting, "crafting namespace")
    with testbeds_dir() as lfd:
        if lfd is None:
            return None
        try:
            return _load_at(lfd, crafting, testbeds_path() / crafting / RECORD)
        except FileNotFoundError:
            return None


def record_using(name: str) -> TestbedRecord | None:
    """The testbed that has a namespace of this name, as crafting or kernel host."""
    valid_name(name)
    for rec in all_records():
        if name in (rec.spec.crafting, rec.spec.kernel):
            return rec
    return None


# -- connections left open (handshake --keep) --------------------------------------------------------
CONNECTIONS = "connections.json"


def _read_connections(spec: TestbedSpec) -> dict[str, Any]:
    with record_dir(spec.crafting) as dfd:
        if dfd is None:
            return {}
        try:
            data = json.loads(
                read_file(dfd, CONNECTIONS, testbeds_path() / spec.crafting / CONNECTIONS)
            )
        except (OSError, ValueError, RecursionError, UntrustedRecord):
            return {}
    return data if isinstance(data, dict) else {}


def load_connection(spec: TestbedSpec, sport: int) -> KeptConnection | None:
    """What tcplab knows of a connection it left open (`handshake --keep`): ISNs, next numbers."""
    return KeptConnection.from_json(_read_connections(spec).get(str(sport)))


def save_connection(spec: TestbedSpec, sport: int, numbers: KeptConnection | None) -> None:
    """Remember (or, with None, forget) a connection's numbers in the testbed's record folder."""
    data = _read_connections(spec)
    if numbers is None:
        data.pop(str(sport), None)
    else:
        data[str(sport)] = numbers.to_json()
    with record_dir(spec.crafting) as dfd:
        if dfd is None:
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open("connections.tmp", flags, 0o600, dir_fd=dfd)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data))
        os.replace("connections.tmp", CONNECTIONS, src_dir_fd=dfd, dst_dir_fd=dfd)


def lab_context(rec: TestbedRecord, name: str, port: int) -> LabContext:
    """The context handed to a solution on a testbed whose application runs (`lab check`, grading,
    `tcplab shell`)."""
    assert rec.app is not None
    spec = rec.spec
    return LabContext(
        lab=name,
        crafting_addr=spec.crafting_addr,
        kernel_addr=spec.kernel_addr,
        iface=IFNAME,
        port=port,
        crafting_mac=CRAFTING_MAC,
        kernel_mac=KERNEL_MAC,
        app_control=rec.app.control,
    )
