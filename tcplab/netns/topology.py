"""Building, checking and removing a testbed: two namespaces, a veth pair, a rule and the application.

Theory of operation: `setup` writes the testbed's ownership record first and updates it after each step, so
an interrupted or failed setup is rolled back by `teardown`, which removes only what the record names
(namespaces by inode, the application by pid and start time). The testbed's link is one veth pair made
inside the crafting namespace with its peer in the kernel namespace: nothing is left in the host's
namespace, no route leads out, and both ends have fixed MACs and permanent neighbour entries, so no ARP
exchange ever delays or clutters an exercise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tcplab.app import supervise
from tcplab.errors import EnvironmentProblem, TcplabError, UsageError
from tcplab.i18n import N_, _
from tcplab.netns import lock, nft
from tcplab.netns.enter import create_netns, inside, netns_cookie, netns_inode, netns_path
from tcplab.netns.proc import ProcessId, alive, cmdline, describe, self_id, start_ticks
from tcplab.netns.record import (
    CRAFTING_MAC,
    IFNAME,
    KERNEL_MAC,
    RECORD_FILES,
    AppRecord,
    TestbedRecord,
    TestbedSpec,
    all_records,
    find_record,
    record_dir,
    record_using,
    testbeds_dir,
    testbeds_locked,
)

BUILD_WAIT = 60.0  # s: how long setup waits for another process to finish building the same testbed

_held_depth = 0
_held_signal: int | None = None


def _hold(signum: int, frame: object) -> None:
    global _held_signal
    if _held_depth > 0:
        _held_signal = signum  # acted on when the step is done
        return
    raise KeyboardInterrupt


def signal_pending() -> bool:
    """A Ctrl-C or SIGTERM came while signals were held: a wait should end now."""
    return _held_signal is not None and threading.current_thread() is threading.main_thread()


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
        raise EnvironmentProblem(
            _("{what} needs root").format(what=what),
            _("run it with sudo: sudo tcplab {what}").format(what=what),
        )


def _netlink_error(step: str, exc: Exception) -> EnvironmentProblem:
    return EnvironmentProblem(
        _("{step} failed: {exc}").format(step=step, exc=exc),
        _("check that network namespaces work here"),
    )


# -- setup ---------------------------------------------------------------------------------------
class TestbedBusy(EnvironmentProblem):
    """The testbed is being built, or used, by another living process: it is left alone."""


def setup(spec: TestbedSpec, ephemeral: bool = False) -> tuple[TestbedRecord, bool]:
    """Build the testbed (or keep it, if it is already whole). Returns (record, created).

    An `ephemeral` testbed (made for one run, check or grading) names this process as its owner: it
    is removed by `reap_orphans` once the owner is gone, and its application exits with it."""
    require_root("setup")
    spec.validate()
    nft.nft_path()
    me = self_id()
    started, told = time.monotonic(), False
    while True:
        with testbeds_locked():
            existing = find_record(spec.crafting)
            if existing is None or _builder(existing) is None:
                rec = _decide(spec, existing, me, ephemeral)
                break
        told = _wait_for_builder(existing, started, told)
    if rec is None:
        assert existing is not None
        return existing, False
    try:
        _build(rec)
    except BaseException:
        with signals_held(), lock.locked():  # a second Ctrl-C must not cut the rollback short
            _teardown(rec)
        raise
    return rec, True


def _wait_for_builder(rec: TestbedRecord, started: float, told: bool) -> bool:
    """Another process is building this testbed: wait for it (Ctrl-C works), saying so once."""
    builder = rec.builder
    assert builder is not None
    waited = time.monotonic() - started
    if waited > BUILD_WAIT or lock.cancelled.is_set():
        raise _busy(rec, builder)
    if not told and waited >= lock.WAIT_NOTICE_AFTER:
        lock.notify(
            _("waiting for {process} to finish setting up {crafting}").format(
                process=describe(builder), crafting=rec.spec.crafting
            )
        )
        told = True
    time.sleep(0.05)
    return told


def _decide(
    spec: TestbedSpec, existing: TestbedRecord | None, me: ProcessId, ephemeral: bool
) -> TestbedRecord | None:
    """Under the lock: None to keep the existing testbed, else the new record (saved, nothing built)."""
    if existing is not None:
        _refuse_in_use(existing)
        if existing.spec != spec:
            raise UsageError(
                _(
                    "a testbed with crafting host {crafting} already exists with kernel "
                    "host {kernel}, subnet {subnet}, port {port}"
                ).format(
                    crafting=spec.crafting,
                    kernel=existing.spec.kernel,
                    subnet=existing.spec.subnet,
                    port=existing.spec.port,
                ),
                _(
                    "run 'sudo tcplab teardown --crafting {crafting}' first, or give the "
                    "same options"
                ).format(crafting=spec.crafting),
            )
        if not problems(existing):
            return None
        _teardown(existing)
    _check_names_free(spec)
    rec = TestbedRecord(spec=spec, builder=me, owner=me if ephemeral else None)
    rec.save()
    return rec


def _builder(rec: TestbedRecord) -> ProcessId | None:
    """The living process (not this one) building this testbed right now, if any."""
    b = rec.builder
    if b is None or b.pid == os.getpid() or not alive(b):
        return None
    return b


def _user(rec: TestbedRecord) -> ProcessId | None:
    """The living process (not this one) an ephemeral testbed belongs to, if any."""
    o = rec.owner
    if o is None or o.pid == os.getpid() or not alive(o):
        return None
    return o


def _busy(rec: TestbedRecord, builder: ProcessId) -> TestbedBusy:
    return TestbedBusy(
        _("the testbed of {crafting} is being set up right now by process {pid}").format(
            crafting=rec.spec.crafting, pid=builder.pid
        ),
        _("wait for that command to finish, then try again"),
    )


def _refuse_busy(rec: TestbedRecord) -> None:
    """Another living process is building this testbed: leave it alone."""
    b = _builder(rec)
    if b is not None:
        raise _busy(rec, b)


def _refuse_in_use(rec: TestbedRecord) -> None:
    """Another living process uses this ephemeral testbed: leave it alone."""
    o = _user(rec)
    if o is not None:
        raise TestbedBusy(
            _("the testbed of {crafting} is in use by {process}").format(
                crafting=rec.spec.crafting, process=describe(o)
            ),
            _("it is removed when that command ends; wait for it"),
        )


def _check_names_free(spec: TestbedSpec) -> None:
    for name in (spec.crafting, spec.kernel):
        other = record_using(name)
        if other is not None and other.spec.crafting != spec.crafting:
            raise UsageError(
                _("namespace {name} already belongs to the testbed of {crafting}").format(
                    name=name, crafting=other.spec.crafting
                ),
                _("choose other names, or run 'sudo tcplab teardown --crafting {crafting}'").format(
                    crafting=other.spec.crafting
                ),
            )
        if os.path.exists(netns_path(name)):
            raise EnvironmentProblem(
                _("network namespace {name} exists and was not created by tcplab").format(
                    name=name
                ),
                _("remove it ('sudo ip netns del {name}') or choose other names").format(name=name),
            )


def _build(rec: TestbedRecord) -> None:
    spec = rec.spec
    for name in (spec.crafting, spec.kernel):
        with signals_held():  # created and recorded, or neither
            try:
                # only the kernel host's socket table is read, every millisecond in a check
                create_netns(name, own_table=name == spec.kernel)
            except OSError as exc:
                raise _netlink_error(_("creating namespace {name}").format(name=name), exc) from exc
            inode = netns_inode(name)
            assert inode is not None
            rec.namespaces[name] = inode
            cookie = netns_cookie(name)
            if cookie is not None:
                rec.cookies[name] = cookie
            rec.save()
    rec.app = start_app(
        rec, meanwhile=lambda: _build_rest(spec)
    )  # it loads while the link is built
    rec.complete = True
    rec.builder = None
    rec.save()


def _build_rest(spec: TestbedSpec) -> None:
    """The link, its tuning and the crafting host's rule (the application listens on every
    address, so it may start before they exist)."""
    _build_link(spec)
    for name in (spec.crafting, spec.kernel):
        _tune_namespace(name)
    nft.install(spec)


def _build_link(spec: TestbedSpec) -> None:
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
        raise _netlink_error(_("building the testbed link"), exc) from exc


def _offload_off(name: str) -> bool:
    return name.startswith(("tx-checksum", "tx-tcp")) or name in (
        "tx-generic-segmentation",
        "rx-gro",
        "rx-gro-list",
        "rx-lro",
    )


def _tune_namespace(ns: str) -> None:
    """Offloads off, so captures show real segments with real checksums; no IPv6 chatter."""
    set_offloads(ns, False)
    with inside(ns):
        Path(f"/proc/sys/net/ipv6/conf/{IFNAME}/disable_ipv6").write_text("1")


def set_offloads(ns: str, on: bool) -> None:
    """Turn the link end's tx checksum and segmentation offloads (and GRO/LRO) on or off."""
    from pyroute2.ethtool import Ethtool
    from pyroute2.ethtool.ioctl import NotSupportedError

    with inside(ns):
        eth = Ethtool()
        try:
            features = eth.get_features(IFNAME)
            for name, feature in features.features.items():
                if _offload_off(name) and (feature.available or not on):
                    feature.enable = on
            eth.set_features(IFNAME, features)
        except NotSupportedError as exc:
            raise EnvironmentProblem(
                _("cannot turn offloads {value} on {IFNAME} in {ns}").format(
                    value="on" if on else "off", IFNAME=IFNAME, ns=ns
                ),
                _("check 'ethtool -k' on the testbed's veth"),
            ) from exc
        finally:
            eth.close()


def set_link(spec: TestbedSpec, offloads: bool = False, mtu: int | None = None) -> None:
    """One scenario's link: offloads on or off and the MTU, on both ends. Both live in the
    testbed's namespaces and go with them."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    for ns in (spec.crafting, spec.kernel):
        if offloads:
            set_offloads(ns, True)
        if mtu is None:
            continue
        try:
            with inside(ns), IPRoute() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname=IFNAME)[0], mtu=mtu)
        except NetlinkError as exc:
            raise _netlink_error(
                _("setting mtu {mtu} in {ns}").format(mtu=mtu, ns=ns), exc
            ) from exc


def link_settings(ns: str) -> dict[str, Any]:
    """The link end's MTU and whether tx checksum offload is on (what a scenario ran with)."""
    from pyroute2 import IPRoute
    from pyroute2.ethtool import Ethtool

    with inside(ns), IPRoute() as ipr:
        link = ipr.get_links(ipr.link_lookup(ifname=IFNAME)[0])[0]
        mtu = link.get("IFLA_MTU")
    with inside(ns):
        eth = Ethtool()
        try:
            feats = eth.get_features(IFNAME).features
        finally:
            eth.close()
    csum = [f.enable for n, f in feats.items() if n.startswith("tx-checksum")]
    return {"mtu": mtu, "tx_checksum_offload": any(csum)}


# -- adopting a testbed built by hand (netns_setup.sh) ------------------------------------------------
def adopt(spec: TestbedSpec) -> TestbedRecord:
    """Make a namespace pair built by hand, as netns_setup.sh builds it, tcplab's testbed: check that
    it looks as setup builds it, start the application and write the record, so status, handshake
    and teardown treat it as any other testbed. On failure only the application and the record are
    removed: the namespaces are left to whoever made them."""
    require_root("setup")
    spec.validate()
    nft.nft_path()
    with testbeds_locked():
        find_record(spec.crafting)  # an untrusted record of this name: refused, nothing touched
        rec = TestbedRecord(spec=spec, builder=self_id())
        for name, addr, mac in (
            (spec.crafting, spec.crafting_addr, CRAFTING_MAC),
            (spec.kernel, spec.kernel_addr, KERNEL_MAC),
        ):
            _check_adoptable(rec, name, f"{addr}/{spec.prefixlen}", mac)
        if nft.read(spec) is None:
            raise _not_a_lab(
                spec.crafting, _("the rule in {crafting} is missing").format(crafting=spec.crafting)
            )
        rec.save()
    try:
        rec.app = start_app(rec)
        rec.complete, rec.builder = True, None
        rec.save()
    except BaseException:
        rec.namespaces.clear()  # not ours to remove: teardown then stops the application only
        with signals_held(), lock.locked():
            _teardown(rec)
        raise
    return rec


def _check_adoptable(rec: TestbedRecord, name: str, addr: str, mac: str) -> None:
    """The namespace exists, belongs to no testbed, and has the testbed's link; recorded in `rec`."""
    other = record_using(name)
    if other is not None:
        raise UsageError(
            _("namespace {name} already belongs to the testbed of {crafting}").format(
                name=name, crafting=other.spec.crafting
            ),
            _("remove that testbed first: sudo tcplab teardown --crafting {crafting}").format(
                crafting=other.spec.crafting
            ),
        )
    inode = netns_inode(name)
    if inode is None:
        raise EnvironmentProblem(
            _("network namespace {name} does not exist").format(name=name),
            _("build it first: sudo ./netns_setup.sh up"),
        )
    rec.namespaces[name] = inode
    cookie = netns_cookie(name)
    if cookie is not None:
        rec.cookies[name] = cookie
    link = link_status(name)
    found = _link_problems(name, link, addr, rec.spec)
    if link and link.get("mac") != mac:
        found.append(
            _("the link {IFNAME} in {name} has mac {found}, not {mac}").format(
                IFNAME=IFNAME, name=name, found=link.get("mac"), mac=mac
            )
        )
    if found:
        raise _not_a_lab(name, found[0])


def _not_a_lab(name: str, why: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        _("namespace {name} is not a testbed as netns_setup.sh builds it: {why}").format(
            name=name, why=why
        ),
        _("remove it and build it again with netns_setup.sh up, or use 'tcplab setup'"),
    )


# -- the application -----------------------------------------------------------------------------
def start_app(
    rec: TestbedRecord, timeout: float = 10.0, meanwhile: Callable[[], None] | None = None
) -> AppRecord:
    """Start the kernel-side application in the kernel namespace (tcplab.app.supervise), listening
    on the testbed's port if it should; recorded by pid, start time and command line before it runs
    on. An ephemeral testbed's application watches this process (its owner) and exits with it.
    `meanwhile` runs between its start and the wait for it to be ready (its Python loads)."""
    port = rec.spec.port if rec.spec.listen else 0
    mine = rec.owner is not None and rec.owner.pid == os.getpid()
    with supervise.Launch(str(rec.control_path), port, watch_owner=mine) as launch:
        with signals_held(), supervise.open_log(rec.log_path) as log, inside(rec.spec.kernel):
            proc = launch.spawn(log)
            app = AppRecord(
                proc.pid, start_ticks(proc.pid) or 0, str(rec.control_path), launch.argv
            )
            rec.app = app
            rec.save()
        if meanwhile is not None:
            meanwhile()
        if not launch.ready(timeout):
            raise EnvironmentProblem(
                _("the kernel-side application did not start in {kernel}: {log}").format(
                    kernel=rec.spec.kernel, log=_log_tail(rec)
                ),
                _("see {log_path}").format(log_path=rec.log_path),
            )
    return app


def _log_tail(rec: TestbedRecord) -> str:
    try:
        with record_dir(rec.spec.crafting) as dfd:
            return supervise.log_tail(dfd) if dfd is not None else "no output"
    except (OSError, TcplabError):
        return "no output"


def app_alive(app: AppRecord | None) -> bool:
    """The recorded application runs: same pid, start time and command line."""
    if app is None or start_ticks(app.pid) != app.start_ticks:
        return False
    if supervise.child_running(app.pid):
        return True  # ours, perhaps still between fork and exec
    argv = cmdline(app.pid)
    if app.cmdline is not None:
        return argv == app.cmdline
    return supervise.looks_like_app(argv, app.control)


def stop_app(app: AppRecord) -> None:
    """SIGTERM, then SIGKILL, the recorded application, only while it is provably the one."""
    supervise.stop(app.pid, lambda: app_alive(app))


# -- health, teardown ----------------------------------------------------------------------------
def namespace_ours(rec: TestbedRecord, name: str) -> bool:
    """The namespace of this name is still the one tcplab made: same inode, and same cookie (an
    inode is reused once a namespace is freed; a cookie never is). Where the kernel has cookies
    (Linux 5.14+), a record without one proves nothing: tcplab always records it there."""
    inode = rec.namespaces.get(name)
    if inode is None or netns_inode(name) != inode:
        return False
    return netns_cookie(name) == rec.cookies.get(name)


def healthy(rec: TestbedRecord) -> bool:
    return not problems(rec)


def problems(rec: TestbedRecord, details: dict[str, Any] | None = None) -> list[str]:
    """Everything that keeps the testbed from being whole; empty when it is. `details`, if given, is
    filled with what was found (namespaces, links, the rule, the application)."""
    spec = rec.spec
    found: list[str] = []
    out = details if details is not None else {}
    out["namespaces"] = []
    if not rec.complete:
        found.append(_("setup did not finish"))
    wanted = {spec.crafting: spec.crafting_addr, spec.kernel: spec.kernel_addr}
    for name, role in ((spec.crafting, N_("crafting host")), (spec.kernel, N_("kernel host"))):
        present = netns_inode(name) is not None
        ours = present and namespace_ours(rec, name)
        link = link_status(name) if ours else {}
        out["namespaces"].append(
            {"name": name, "role": role, "present": present, "ours": ours, "link": link}
        )
        if not present:
            found.append(_("namespace {name} is missing").format(name=name))
        elif not ours:
            found.append(
                _("namespace {name} was replaced by one tcplab did not create").format(name=name)
            )
        else:
            found += _link_problems(name, link, f"{wanted[name]}/{spec.prefixlen}", spec)
    out["rule"] = nft.read(spec) if namespace_ours(rec, spec.crafting) else None
    if out["rule"] is None:
        found.append(_("the rule in {crafting} is missing").format(crafting=spec.crafting))
    out["app"] = _app_state(rec)
    if not out["app"]["alive"]:
        found.append(_("the kernel-side application is not running"))
    return found


def _link_problems(ns: str, link: dict[str, Any], addr: str, spec: TestbedSpec) -> list[str]:
    if not link:
        return [_("the link {IFNAME} in {ns} is missing").format(IFNAME=IFNAME, ns=ns)]
    found = []
    if link.get("state") != "up":
        found.append(_("the link {IFNAME} in {ns} is down").format(IFNAME=IFNAME, ns=ns))
    if addr not in link.get("addresses", []):
        found.append(_("{ns} lacks its address {addr}").format(ns=ns, addr=addr))
    out = [r for r in link.get("routes", []) if r != str(spec.network)]
    if out:
        found.append(
            _("{ns} has routes out of the testbed: {routes}").format(ns=ns, routes=", ".join(out))
        )
    return found


def _app_state(rec: TestbedRecord) -> dict[str, Any]:
    app: dict[str, Any] = {"alive": app_alive(rec.app), "pid": rec.app.pid if rec.app else None}
    if app["alive"] and rec.app is not None:
        try:
            app["sockets"] = supervise.sockets(rec.app.control)
        except TcplabError:
            app["alive"] = False
    return app


def teardown(rec: TestbedRecord) -> list[str]:
    """Remove what the record names, tolerating what is already gone. Returns what was removed.
    A testbed another living process is building or using is refused (TestbedBusy). Removing a testbed this
    process made for itself is a clean-up: its wait for the lock is never cut short (a command
    being stopped cancels its threads' other waits)."""
    own = rec.owner is not None and rec.owner.pid == os.getpid()
    with lock.locked() if own else testbeds_locked():
        fresh = find_record(rec.spec.crafting) or rec
        _refuse_busy(fresh)
        _refuse_in_use(fresh)
        return _teardown(fresh)


def reap_orphans() -> list[str]:
    """Remove every ephemeral testbed whose owner process is gone (a run, check or grading that was
    killed): its application, namespaces, rule and record. One line per testbed removed."""
    lines = []
    with testbeds_locked():
        for rec in all_records():
            if rec.owner is None or alive(rec.owner) or _builder(rec) is not None:
                continue
            if rec.owner.pid == os.getpid():
                continue  # this process's own testbed (its identity changed? never reap ourselves)
            removed = _teardown(rec)
            what = ", ".join(removed) or _("only its record")
            lines.append(
                _(
                    "removed orphaned testbed {crafting} ⇄ {kernel} (its owner, pid {pid}, "
                    "is gone): {what}"
                ).format(
                    crafting=rec.spec.crafting, kernel=rec.spec.kernel, pid=rec.owner.pid, what=what
                )
            )
    return lines


def in_use(rec: TestbedRecord) -> str | None:
    """Why teardown --all must leave this testbed alone (built or used by a living process), or None."""
    b = _builder(rec)
    if b is not None:
        return _("being set up right now by {process}").format(process=describe(b))
    o = _user(rec)
    return _("in use by {process}").format(process=describe(o)) if o is not None else None


def _teardown(rec: TestbedRecord) -> list[str]:
    with signals_held():  # a second Ctrl-C must not cut a teardown (or a rollback) short
        return _remove(rec)


def _remove(rec: TestbedRecord) -> list[str]:
    from pyroute2 import netns

    removed = []
    if rec.app is not None and app_alive(rec.app):
        stop_app(rec.app)
        removed.append(_("application (pid {pid})").format(pid=rec.app.pid))
    for name in list(rec.namespaces):
        if namespace_ours(rec, name):
            try:
                netns.remove(name)
                removed.append(_("namespace {name}").format(name=name))
            except OSError as exc:
                raise _netlink_error(_("removing namespace {name}").format(name=name), exc) from exc
    return removed + _remove_dir(rec)


KEPT = "kept "  # marks a line of teardown's list that names what was left in place


def _remove_dir(rec: TestbedRecord) -> list[str]:
    """Remove the files tcplab writes in the record folder, then the folder; never anything else
    (a folder holding other files is kept and named). /run/tcplab and its labs/ folder (every
    testbed's record folder) stay."""
    name = rec.spec.crafting
    with record_dir(name) as dfd:
        if dfd is None:
            return []
        for file in RECORD_FILES:
            with contextlib.suppress(OSError):  # missing, or not a file: then it is listed below
                os.unlink(file, dir_fd=dfd)
        left = sorted(os.listdir(dfd))
    if left:
        shown = ", ".join("".join(c if c.isprintable() else "?" for c in n) for n in left[:5])
        return [
            KEPT
            + _("the folder {dir}: it holds files tcplab did not write ({shown})").format(
                dir=rec.dir, shown=shown
            )
        ]
    with testbeds_dir() as lfd, contextlib.suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=lfd)
    return []


# -- status --------------------------------------------------------------------------------------
def link_status(ns: str) -> dict[str, Any]:
    from tcplab.netns.rtnl import IPRoute  # pyroute2's answers, without its 0.3 s import

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
