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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcplab import child_env
from tcplab.app.client import AppClient
from tcplab.errors import EnvironmentProblem, TcplabError, UsageError
from tcplab.netns import nft
from tcplab.netns.enter import create_netns, inside, netns_cookie, netns_inode, netns_path
from tcplab.netns.record import (
    CRAFTING_MAC,
    IFNAME,
    KERNEL_MAC,
    AppRecord,
    Builder,
    LabRecord,
    LabSpec,
    find_record,
    labs_locked,
    record_using,
)

_held_depth = 0
_held_signal: int | None = None


def _hold(signum: int, frame: object) -> None:
    global _held_signal
    if _held_depth > 0:
        _held_signal = signum  # acted on when the step is done
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back for a step that must finish once begun (e.g. create and
    record a namespace); a signal that came meanwhile takes effect right after the step.

    Python runs signal handlers in the main thread whichever thread the kernel picked, so a
    deferring handler holds them even while pyroute2's own threads run (a signal mask would not)."""
    global _held_depth, _held_signal
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread is interrupted; other threads finish their steps anyway
        return
    if _held_depth == 0:
        saved = {sig: signal.signal(sig, _hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    _held_depth += 1
    pending = None
    try:
        yield
    finally:
        _held_depth -= 1
        if _held_depth == 0:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
            pending, _held_signal = _held_signal, None
    if pending is not None:
        raise KeyboardInterrupt


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"{what} needs root", f"run it with sudo: sudo tcplab {what}")


def _netlink_error(step: str, exc: Exception) -> EnvironmentProblem:
    return EnvironmentProblem(f"{step} failed: {exc}", "check that network namespaces work here")


# -- setup ---------------------------------------------------------------------------------------
def setup(spec: LabSpec) -> tuple[LabRecord, bool]:
    """Build the lab (or keep it, if it is already whole). Returns (record, created)."""
    require_root("setup")
    spec.validate()
    nft.nft_path()
    with labs_locked():
        existing = find_record(spec.crafting)
        if existing is not None:
            _refuse_busy(existing)
            if existing.spec != spec:
                raise UsageError(
                    f"a lab with crafting host {spec.crafting} already exists with "
                    f"kernel host {existing.spec.kernel}, subnet {existing.spec.subnet}, "
                    f"port {existing.spec.port}",
                    "run 'sudo tcplab teardown' first, or give the same options",
                )
            if not problems(existing):
                return existing, False
            _teardown(existing)
        _check_names_free(spec)
        rec = LabRecord(spec=spec, builder=Builder(os.getpid(), _start_ticks(os.getpid()) or 0))
        rec.save()
    try:
        _build(rec)
    except BaseException:
        with labs_locked():
            _teardown(rec)
        raise
    return rec, True


def _refuse_busy(rec: LabRecord) -> None:
    """Another living process is building this lab: leave it alone."""
    b = rec.builder
    if b is not None and b.pid != os.getpid() and _start_ticks(b.pid) == b.start_ticks:
        raise EnvironmentProblem(
            f"the lab of {rec.spec.crafting} is being set up right now by process {b.pid}",
            "wait for that command to finish, then try again",
        )


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
                # only the kernel host's socket table is read, every millisecond in a check
                create_netns(name, own_table=name == spec.kernel)
            except OSError as exc:
                raise _netlink_error(f"creating namespace {name}", exc) from exc
            inode = netns_inode(name)
            assert inode is not None
            rec.namespaces[name] = inode
            cookie = netns_cookie(name)
            if cookie is not None:
                rec.cookies[name] = cookie
            rec.save()
    _build_link(spec)
    for name in (spec.crafting, spec.kernel):
        _tune_namespace(name)
    nft.install(spec)
    rec.app = start_app(rec)
    rec.complete = True
    rec.builder = None
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
    env = child_env()
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
    """The namespace of this name is still the one tcplab made: same inode, and same cookie (an
    inode is reused once a namespace is freed; a cookie never is)."""
    inode = rec.namespaces.get(name)
    if inode is None or netns_inode(name) != inode:
        return False
    cookie = rec.cookies.get(name)
    return cookie is None or netns_cookie(name) == cookie


def healthy(rec: LabRecord) -> bool:
    return not problems(rec)


def problems(rec: LabRecord, details: dict[str, Any] | None = None) -> list[str]:
    """Everything that keeps the lab from being whole; empty when it is. `details`, if given, is
    filled with what was found (namespaces, links, the rule, the application)."""
    spec = rec.spec
    found: list[str] = []
    out = details if details is not None else {}
    out["namespaces"] = []
    if not rec.complete:
        found.append("setup did not finish")
    wanted = {spec.crafting: spec.crafting_addr, spec.kernel: spec.kernel_addr}
    for name, role in ((spec.crafting, "crafting host"), (spec.kernel, "kernel host")):
        present = netns_inode(name) is not None
        ours = present and namespace_ours(rec, name)
        link = link_status(name) if ours else {}
        out["namespaces"].append(
            {"name": name, "role": role, "present": present, "ours": ours, "link": link}
        )
        if not present:
            found.append(f"namespace {name} is missing")
        elif not ours:
            found.append(f"namespace {name} was replaced by one tcplab did not create")
        else:
            found += _link_problems(name, link, f"{wanted[name]}/{spec.prefixlen}", spec)
    out["rule"] = nft.read(spec) if namespace_ours(rec, spec.crafting) else None
    if out["rule"] is None:
        found.append(f"the rule in {spec.crafting} is missing")
    out["app"] = _app_state(rec)
    if not out["app"]["alive"]:
        found.append("the kernel-side application is not running")
    return found


def _link_problems(ns: str, link: dict[str, Any], addr: str, spec: LabSpec) -> list[str]:
    if not link:
        return [f"the link {IFNAME} in {ns} is missing"]
    found = []
    if link.get("state") != "up":
        found.append(f"the link {IFNAME} in {ns} is down")
    if addr not in link.get("addresses", []):
        found.append(f"{ns} lacks its address {addr}")
    out = [r for r in link.get("routes", []) if r != str(spec.network)]
    if out:
        found.append(f"{ns} has routes out of the lab: {', '.join(out)}")
    return found


def _app_state(rec: LabRecord) -> dict[str, Any]:
    app: dict[str, Any] = {"alive": app_alive(rec.app), "pid": rec.app.pid if rec.app else None}
    if app["alive"] and rec.app is not None:
        try:
            with AppClient(rec.app.control, timeout=2) as cli:
                app["sockets"] = cli.call("list")["sockets"]
        except TcplabError:
            app["alive"] = False
    return app


def teardown(rec: LabRecord) -> list[str]:
    """Remove what the record names, tolerating what is already gone. Returns what was removed."""
    with labs_locked():
        fresh = find_record(rec.spec.crafting) or rec
        _refuse_busy(fresh)
        return _teardown(fresh)


def _teardown(rec: LabRecord) -> list[str]:
    with signals_held():  # a second Ctrl-C must not cut a teardown (or a rollback) short
        return _remove(rec)


def _remove(rec: LabRecord) -> list[str]:
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
    path.rmdir()  # /run/tcplab itself stays: it is the lock every tcplab command shares


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
