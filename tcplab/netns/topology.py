"""Building, checking and removing a lab: two namespaces, a veth pair, a rule and the application.

Theory of operation: `setup` writes the lab's ownership record first and updates it after each step, so
an interrupted or failed setup is rolled back by `teardown`, which removes only what the record names
(namespaces by inode, the application by pid and start time). The lab's link is one veth pair made
inside the crafting namespace with its peer in the kernel namespace: nothing is left in the host's
namespace, no route leads out, and both ends have fixed MACs and permanent neighbour entries, so no ARP
exchange ever delays or clutters an exercise.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcplab.app.client import AppClient
from tcplab.errors import EnvironmentProblem, TcplabError, UsageError
from tcplab.netns import nft
from tcplab.netns.enter import create_netns, inside, netns_inode, netns_path
from tcplab.netns.record import (
    CRAFTING_MAC,
    IFNAME,
    KERNEL_MAC,
    LABS_DIR,
    AppRecord,
    LabRecord,
    LabSpec,
    find_record,
    record_using,
)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a step that must finish once begun (e.g. create + record);
    a signal that came meanwhile is delivered right after."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"{what} needs root", f"run it with sudo: sudo tcplab {what}")


def _netlink_error(step: str, exc: Exception) -> EnvironmentProblem:
    return EnvironmentProblem(f"{step} failed: {exc}", "check that network namespaces work here")


# -- setup ---------------------------------------------------------------------------------------
def setup(spec: LabSpec, log: Any = None) -> tuple[LabRecord, bool]:
    """Build the lab (or keep it, if it is already whole). Returns (record, created)."""
    require_root("setup")
    spec.validate()
    nft.nft_path()
    existing = find_record(spec.crafting)
    if existing is not None:
        if existing.spec != spec:
            raise UsageError(
                f"a lab with crafting host {spec.crafting} already exists with "
                f"kernel host {existing.spec.kernel}, subnet {existing.spec.subnet}, "
                f"port {existing.spec.port}",
                "run 'sudo tcplab teardown' first, or give the same options",
            )
        if healthy(existing):
            return existing, False
        teardown(existing)
    _check_names_free(spec)
    rec = LabRecord(spec=spec)
    rec.save()
    try:
        _build(rec)
    except BaseException:
        teardown(rec)
        raise
    return rec, True


def _check_names_free(spec: LabSpec) -> None:
    for name in (spec.crafting, spec.kernel):
        other = record_using(name)
        if other is not None and other.spec.crafting != spec.crafting:
            raise UsageError(
                f"namespace {name} already belongs to the lab of {other.spec.crafting}",
                f"choose other names, or run 'sudo tcplab teardown --crafting {other.spec.crafting}'",
            )
        if os.path.exists(netns_path(name)):
            raise EnvironmentProblem(
                f"network namespace {name} exists and was not created by tcplab",
                f"remove it ('sudo ip netns del {name}') or choose other names",
            )


def _build(rec: LabRecord) -> None:
    spec = rec.spec
    for name in (spec.crafting, spec.kernel):
        with signals_held():  # created and recorded, or neither
            try:
                create_netns(name)
            except OSError as exc:
                raise _netlink_error(f"creating namespace {name}", exc) from exc
            inode = netns_inode(name)
            assert inode is not None
            rec.namespaces[name] = inode
            rec.save()
    _build_link(spec)
    for name in (spec.crafting, spec.kernel):
        _tune_namespace(name)
    nft.install(spec)
    rec.app = start_app(rec)
    rec.complete = True
    rec.save()


def _build_link(spec: LabSpec) -> None:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    ends = (
        (spec.crafting, spec.crafting_addr, spec.kernel_addr, KERNEL_MAC),
        (spec.kernel, spec.kernel_addr, spec.crafting_addr, CRAFTING_MAC),
    )
    try:
        with inside(spec.crafting), IPRoute() as ipr:
            ipr.link(
                "add",
                ifname=IFNAME,
                kind="veth",
                address=CRAFTING_MAC,
                peer={"ifname": IFNAME, "net_ns_fd": spec.kernel, "address": KERNEL_MAC},
            )
        for ns, addr, peer_addr, peer_mac in ends:
            with inside(ns), IPRoute() as ipr:
                idx = ipr.link_lookup(ifname=IFNAME)[0]
                ipr.addr("add", index=idx, address=addr, prefixlen=spec.prefixlen)
                ipr.link("set", index=idx, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                ipr.neigh("add", dst=peer_addr, lladdr=peer_mac, ifindex=idx, state="permanent")
    except NetlinkError as exc:
        raise _netlink_error("building the lab link", exc) from exc


def _offload_off(name: str) -> bool:
    return name.startswith(("tx-checksum", "tx-tcp")) or name in (
        "tx-generic-segmentation",
        "rx-gro",
        "rx-gro-list",
        "rx-lro",
    )


def _tune_namespace(ns: str) -> None:
    """Offloads off, so captures show real segments with real checksums; no IPv6 chatter."""
    from pyroute2.ethtool import Ethtool

    with inside(ns):
        eth = Ethtool()
        try:
            features = eth.get_features(IFNAME)
            for name, feature in features.features.items():
                if _offload_off(name):
                    feature.enable = False
            eth.set_features(IFNAME, features)
        finally:
            eth.close()
        Path(f"/proc/sys/net/ipv6/conf/{IFNAME}/disable_ipv6").write_text("1")


# -- the application -----------------------------------------------------------------------------
def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks, or None if it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def start_app(rec: LabRecord, timeout: float = 10.0) -> AppRecord:
    """Start the kernel-side application in the kernel namespace, listening on the lab's port."""
    read_fd, write_fd = os.pipe()
    cmd = [
        sys.executable,
        "-m",
        "tcplab.app.server",
        "--control",
        str(rec.control_path),
        "--listen",
        str(rec.spec.port if rec.spec.listen else 0),
        "--ready-fd",
        str(write_fd),
    ]
    # the package's parent first on the path, so a source checkout works like an installed package
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")) if p
        ),
    )
    try:
        with signals_held(), open(rec.log_path, "ab") as log, inside(rec.spec.kernel):
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(write_fd,),
                start_new_session=True,
                cwd="/",
                env=env,
            )
            app = AppRecord(
                pid=proc.pid,
                start_ticks=_start_ticks(proc.pid) or 0,
                control=str(rec.control_path),
            )
            rec.app = app
            rec.save()
    finally:
        os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], timeout)
        line = os.read(read_fd, 64) if ready else b""
    finally:
        os.close(read_fd)
    if line.strip() != b"ready":
        tail = rec.log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise EnvironmentProblem(
            f"the kernel-side application did not start in {rec.spec.kernel}: {tail[0]}",
            f"see {rec.log_path}",
        )
    return app


def app_alive(app: AppRecord | None) -> bool:
    return app is not None and _start_ticks(app.pid) == app.start_ticks


def _reap(pid: int) -> None:
    """Collect the exit status if the application is this process's child (setup in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_app(app: AppRecord) -> None:
    if not app_alive(app):
        return
    os.kill(app.pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        _reap(app.pid)
        if not app_alive(app):
            return
        time.sleep(0.005)
    if app_alive(app):
        os.kill(app.pid, signal.SIGKILL)
        time.sleep(0.01)
        _reap(app.pid)


# -- health, teardown ----------------------------------------------------------------------------
def namespace_ours(rec: LabRecord, name: str) -> bool:
    inode = rec.namespaces.get(name)
    return inode is not None and netns_inode(name) == inode


def healthy(rec: LabRecord) -> bool:
    if not rec.complete:
        return False
    if not all(namespace_ours(rec, n) for n in (rec.spec.crafting, rec.spec.kernel)):
        return False
    if not app_alive(rec.app):
        return False
    try:
        with AppClient(str(rec.control_path), timeout=2) as cli:
            cli.call("ping")
    except TcplabError:
        return False
    return True


def teardown(rec: LabRecord) -> list[str]:
    """Remove what the record names, tolerating what is already gone. Returns what was removed."""
    with signals_held():  # a second Ctrl-C must not cut a teardown (or a rollback) short
        return _teardown(rec)


def _teardown(rec: LabRecord) -> list[str]:
    from pyroute2 import netns

    removed = []
    if rec.app is not None and app_alive(rec.app):
        stop_app(rec.app)
        removed.append(f"application (pid {rec.app.pid})")
    for name, _inode in list(rec.namespaces.items()):
        if namespace_ours(rec, name):
            try:
                netns.remove(name)
                removed.append(f"namespace {name}")
            except OSError as exc:
                raise _netlink_error(f"removing namespace {name}", exc) from exc
    _remove_dir(rec.dir)
    return removed


def _remove_dir(path: Path) -> None:
    if not path.is_dir():
        return
    for child in path.iterdir():
        child.unlink(missing_ok=True)
    path.rmdir()
    with contextlib.suppress(OSError):  # only if empty; another lab may be being set up right now
        LABS_DIR.rmdir()


# -- status --------------------------------------------------------------------------------------
@dataclass
class NamespaceStatus:
    name: str
    role: str
    present: bool
    ours: bool
    link: dict[str, Any] = field(default_factory=dict)


def link_status(ns: str) -> dict[str, Any]:
    from pyroute2 import IPRoute

    with inside(ns), IPRoute() as ipr:
        found = ipr.link_lookup(ifname=IFNAME)
        if not found:
            return {}
        link = ipr.get_links(found[0])[0]
        addrs = [
            f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ipr.get_addr(index=found[0], family=2)
        ]
        return {
            "ifname": IFNAME,
            "state": link.get("state"),
            "mac": link.get("IFLA_ADDRESS"),
            "addresses": addrs,
            "routes": [
                f"{r.get('RTA_DST')}/{r['dst_len']}" if r.get("RTA_DST") else "default"
                for r in ipr.get_routes(family=2, table=254)
            ],
        }
