"""netns_setup.sh, the shell version of `tcplab setup`: it must build the same lab and write the
same record, so tcplab's own commands accept a lab it built, and `down` must remove exactly that
lab. Both take tcplab's lock (flock on /run/tcplab/lock) to decide, and neither takes apart a lab
that a living process is building, nor acts on a record tcplab does not trust."""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tcplab.netns.enter import netns_cookie
from tcplab.netns.record import AppRecord, LabRecord, LabSpec, labs_path, run_path
from tcplab.netns.topology import app_alive
from tests.conftest import IN_CI, REPO, remove_lab, run_cli, unique_names

SCRIPT = REPO / "netns_setup.sh"
RULE_COMMENT = "tcplab: the crafting host's kernel must not reset crafted connections"


def sh(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
        check=False,
    )


def spec_args(spec: LabSpec) -> list[str]:
    return [
        "--crafting",
        spec.crafting,
        "--kernel",
        spec.kernel,
        "--subnet",
        spec.subnet,
        "--port",
        str(spec.port),
    ]


def ns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def ns_listed(name: str) -> bool:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return name in [line.split()[0] for line in out.splitlines() if line.strip()]


def in_ns(ns: str, *cmd: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, check=True
    ).stdout


def record_of(spec: LabSpec) -> LabRecord:
    return LabRecord.load(labs_path() / spec.crafting / "lab.json")


def edit_record(spec: LabSpec, change) -> None:
    """Change the lab's record as JSON (change(data) edits it in place), written back atomically."""
    path = labs_path() / spec.crafting / "lab.json"
    data = json.loads(path.read_text())
    change(data)
    tmp = path.with_suffix(".edit")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def start_ticks(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def running_pids_with(text: str) -> list[int]:
    """Live (not zombie) processes whose command line contains text."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state not in ("Z", "X"):
            found.append(int(proc.name))
    return found


def app_running(app: AppRecord | None) -> bool:
    """The recorded application still runs: same pid and start time, and not a zombie waiting for
    init to reap it (topology.app_alive counts a zombie as alive)."""
    if app is None:
        return False
    try:
        fields = Path(f"/proc/{app.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X") and int(fields[19]) == app.start_ticks


def random_spec() -> LabSpec:
    crafting, kernel = unique_names()
    rnd = random.Random()
    return LabSpec(
        crafting,
        kernel,
        f"10.{rnd.randint(100, 250)}.{rnd.randint(0, 255)}.0/24",
        rnd.randint(20000, 60000),
    )


def cleanup(spec: LabSpec) -> None:
    """netns_setup.sh down, then whatever it may have left: tcplab's teardown, `ip netns del`."""
    try:
        sh("down", *spec_args(spec))
    finally:
        try:
            if (labs_path() / spec.crafting).exists():
                remove_lab(spec.crafting, spec.kernel)
        finally:
            for name in (spec.crafting, spec.kernel):
                if ns_exists(name):
                    subprocess.run(["ip", "netns", "del", name], check=False)


@dataclass
class ShLab:
    spec: LabSpec
    up: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def shlab() -> Iterator[ShLab]:
    """One lab built by netns_setup.sh for the module's read-mostly tests, always removed."""
    spec = random_spec()
    try:
        out = sh("up", *spec_args(spec))
        yield ShLab(spec, out)
    finally:
        cleanup(spec)


@pytest.mark.netns
def test_up_builds_the_lab(shlab: ShLab):
    spec, out = shlab.spec, shlab.up
    assert out.returncode == 0, out.stderr
    assert "lab ready" in out.stdout and out.stderr == ""
    assert ns_listed(spec.crafting) and ns_listed(spec.kernel)

    ends = (
        (
            spec.crafting,
            spec.crafting_addr,
            "02:74:6c:00:00:01",
            spec.kernel_addr,
            "02:74:6c:00:00:02",
        ),
        (
            spec.kernel,
            spec.kernel_addr,
            "02:74:6c:00:00:02",
            spec.crafting_addr,
            "02:74:6c:00:00:01",
        ),
    )
    for ns, addr, mac, peer_addr, peer_mac in ends:
        link = in_ns(ns, "ip", "-br", "link", "show", "tcplab0").split()
        assert link[1] == "UP" and link[2] == mac
        assert f"{addr}/{spec.prefixlen}" in in_ns(ns, "ip", "-br", "-4", "addr", "show", "tcplab0")
        assert "UP" in in_ns(ns, "ip", "-br", "link", "show", "lo")
        neigh = in_ns(ns, "ip", "neigh", "show", "dev", "tcplab0")
        assert f"{peer_addr} lladdr {peer_mac} PERMANENT" in neigh
        features = in_ns(ns, "ethtool", "-k", "tcplab0")
        for feature in (
            "tx-checksumming",
            "tcp-segmentation-offload",
            "generic-segmentation-offload",
            "generic-receive-offload",
        ):
            assert f"{feature}: off" in features
        assert in_ns(ns, "cat", "/proc/sys/net/ipv6/conf/tcplab0/disable_ipv6").strip() == "1"
    rules = in_ns(spec.crafting, "nft", "list", "table", "ip", "tcplab")
    assert re.search(
        rf'\toifname "tcplab0" ip saddr {re.escape(spec.crafting_addr)} '
        rf"ip daddr {re.escape(spec.kernel_addr)} tcp flags & rst == rst "
        rf'counter packets \d+ bytes \d+ drop comment "{re.escape(RULE_COMMENT)}"\n',
        rules,
    )
    host_links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert "tcplab0" not in host_links  # nothing of the lab lives in the host's namespace


@pytest.mark.netns
def test_up_writes_the_record_tcplab_writes(shlab: ShLab):
    spec = shlab.spec
    rec = record_of(spec)
    assert rec.spec == spec and rec.complete
    assert rec.namespaces == {
        name: os.stat(f"/run/netns/{name}").st_ino for name in (spec.crafting, spec.kernel)
    }
    assert rec.app is not None and app_alive(rec.app)
    assert rec.app.control == str(rec.control_path)
    cmdline = Path(f"/proc/{rec.app.pid}/cmdline").read_bytes().split(b"\0")
    assert b"tcplab.app.server" in cmdline and str(spec.port).encode() in cmdline
    assert os.readlink(f"/proc/{rec.app.pid}/ns/net") == f"net:[{rec.namespaces[spec.kernel]}]"
    assert abs(rec.created - time.time()) < 600
    assert stat.S_IMODE(os.stat(rec.dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(rec.control_path).st_mode) == 0o600
    assert sorted(p.name for p in rec.dir.iterdir()) == ["app.log", "app.sock", "lab.json"]
    raw = json.loads((rec.dir / "lab.json").read_text())
    assert list(raw) == [
        "format",
        "spec",
        "namespaces",
        "cookies",
        "app",
        "complete",
        "created",
        "builder",
        "owner",
    ]
    assert raw["format"] == "tcplab-lab/1" and raw["owner"] is None
    # the application's whole command line, as it runs (a process is signalled only if it matches)
    assert raw["app"]["cmdline"] == [a.decode() for a in cmdline[:-1]]
    assert raw["spec"] == {
        "crafting": spec.crafting,
        "kernel": spec.kernel,
        "subnet": spec.subnet,
        "port": spec.port,
        "listen": True,
    }
    assert raw["builder"] is None  # set while building, cleared when complete


@pytest.mark.netns
def test_the_record_round_trips_through_tcplab(shlab: ShLab):
    spec = shlab.spec
    path = labs_path() / spec.crafting / "lab.json"
    rec = LabRecord.load(path)
    cookies = {name: netns_cookie(name) for name in (spec.crafting, spec.kernel)}
    if None in cookies.values():
        pytest.skip("this kernel has no SO_NETNS_COOKIE (Linux 5.14+)")
    assert rec.cookies == cookies and len(set(cookies.values())) == 2
    assert rec.builder is None and rec.spec.listen is True
    # byte for byte what LabRecord.save writes for the same record
    assert path.read_text() == json.dumps(rec.to_json(), indent=2)


@pytest.mark.netns
def test_tcplab_status_accepts_the_lab(shlab: ShLab):
    out = run_cli("status", "--crafting", shlab.spec.crafting)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "healthy" in out.stdout


@pytest.mark.netns
def test_tcplab_handshake_works_on_the_lab(shlab: ShLab):
    spec = shlab.spec
    out = run_cli("handshake", "--target", f"{spec.kernel}:{spec.port}", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["ok"] is True


@pytest.mark.netns
def test_script_status_shows_every_part(shlab: ShLab):
    spec = shlab.spec
    out = sh("status", "--crafting", spec.crafting)
    assert out.returncode == 0, out.stdout + out.stderr
    rec = record_of(spec)
    assert rec.app is not None
    for phrase in (
        f"namespace {spec.crafting} (crafting host): present",
        f"namespace {spec.kernel} (kernel host): present",
        f"{spec.crafting_addr}/{spec.prefixlen}",
        f"{spec.kernel_addr}/{spec.prefixlen}",
        "link tcplab0: UP",
        f"rule in {spec.crafting}",
        RULE_COMMENT,
        f"application: pid {rec.app.pid}, running",
        f"0.0.0.0:{spec.port}",
        "healthy",
    ):
        assert phrase in out.stdout


@pytest.mark.netns
def test_up_again_changes_nothing(shlab: ShLab):
    spec = shlab.spec
    before = (labs_path() / spec.crafting / "lab.json").read_text()
    out = sh("up", *spec_args(spec))
    assert out.returncode == 0, out.stderr
    assert "already set up" in out.stdout
    assert (labs_path() / spec.crafting / "lab.json").read_text() == before
    # and tcplab's own setup sees a whole lab too
    again = run_cli("setup", *spec_args(spec))
    assert again.returncode == 0 and "already set up" in again.stdout
    assert (labs_path() / spec.crafting / "lab.json").read_text() == before


@pytest.mark.netns
def test_up_with_other_options_for_an_existing_lab_is_refused(shlab: ShLab):
    spec = shlab.spec
    out = sh("up", *spec_args(spec)[:-1], str(spec.port + 1))
    assert out.returncode == 2
    assert len(out.stderr.splitlines()) == 1 and "already exists" in out.stderr


@pytest.mark.netns
def test_down_removes_the_lab_and_nothing_else():
    spec = random_spec()
    try:
        up = sh("up", *spec_args(spec))
        assert up.returncode == 0, up.stderr
        rec = record_of(spec)
        assert rec.app is not None
        out = sh("down", *spec_args(spec))
        assert out.returncode == 0, out.stderr
        assert "removed lab" in out.stdout
        assert not ns_listed(spec.crafting) and not ns_listed(spec.kernel)
        assert not (labs_path() / spec.crafting).exists()
        assert not app_running(rec.app)
        assert running_pids_with(f"/labs/{spec.crafting}/app.sock") == []
        assert run_path().is_dir() and labs_path().is_dir()  # the lock (and its labs folder) stay
        again = sh("down", *spec_args(spec))
        assert again.returncode == 0 and "nothing to remove" in again.stdout
    finally:
        cleanup(spec)


@pytest.mark.netns
def test_down_removes_a_lab_tcplab_built_and_leaves_a_stranger_alone():
    spec = random_spec()
    try:
        assert run_cli("setup", *spec_args(spec)).returncode == 0
        rec = record_of(spec)
        subprocess.run(["ip", "netns", "del", spec.kernel], check=True)
        subprocess.run(["ip", "netns", "add", spec.kernel], check=True)  # someone else's now
        out = sh("down", "--crafting", spec.crafting)
        assert out.returncode == 0, out.stderr
        assert ns_exists(spec.kernel), "down removed a namespace tcplab did not create"
        assert "left alone" in out.stdout
        assert not ns_exists(spec.crafting) and not (labs_path() / spec.crafting).exists()
        assert not app_running(rec.app)
    finally:
        cleanup(spec)


@pytest.mark.netns
def test_down_leaves_alone_a_namespace_with_the_recorded_inode_but_another_cookie():
    """The kernel reuses a freed namespace's inode: a namespace whose inode matches the record but
    whose cookie does not is someone else's (simulated by editing the recorded cookie)."""
    spec = random_spec()
    try:
        up = sh("up", *spec_args(spec))
        assert up.returncode == 0, up.stderr
        rec = record_of(spec)
        if spec.kernel not in rec.cookies:
            pytest.skip("this kernel has no SO_NETNS_COOKIE (Linux 5.14+)")

        def change(data):
            data["cookies"][spec.kernel] += 1000  # never handed out yet: cookies only grow
            data["from_a_later_tcplab"] = {"any": ["thing"]}  # unknown keys: still readable

        edit_record(spec, change)
        status = sh("status", "--crafting", spec.crafting)
        assert status.returncode == 3
        assert f"namespace {spec.kernel} was replaced by one tcplab did not create" in status.stdout
        out = sh("down", "--crafting", spec.crafting)
        assert out.returncode == 0, out.stderr
        assert ns_exists(spec.kernel), (
            "down removed a namespace whose cookie is not the recorded one"
        )
        assert f"left alone: namespace {spec.kernel}" in out.stdout
        assert not ns_exists(spec.crafting) and not (labs_path() / spec.crafting).exists()
        assert not app_running(rec.app)
    finally:
        cleanup(spec)


@pytest.mark.netns
def test_a_lab_whose_builder_is_alive_is_left_alone():
    spec = random_spec()
    builder = subprocess.Popen(["sleep", "120"])
    try:
        up = sh("up", *spec_args(spec))
        assert up.returncode == 0, up.stderr
        before = record_of(spec)
        edit_record(
            spec,
            lambda d: d.update(
                builder={"pid": builder.pid, "start_ticks": start_ticks(builder.pid)}
            ),
        )
        for args in (["down", "--crafting", spec.crafting], ["up", *spec_args(spec)]):
            out = sh(*args)
            assert out.returncode == 3, out.stdout + out.stderr
            assert out.stderr.splitlines() == [
                f"netns_setup.sh: error: the lab of {spec.crafting} is being set up right now by "
                f"process {builder.pid}; wait for that command to finish, then try again"
            ]
        assert record_of(spec).namespaces == before.namespaces and app_running(before.app)
        # a builder that is gone (same pid, other start time: a reused pid) does not hold it
        edit_record(spec, lambda d: d["builder"].update(start_ticks=1))
        out = sh("down", "--crafting", spec.crafting)
        assert out.returncode == 0, out.stderr
        assert not ns_exists(spec.crafting) and not ns_exists(spec.kernel)
    finally:
        builder.kill()
        builder.wait()
        cleanup(spec)


@pytest.mark.netns
def test_up_names_itself_builder_without_holding_the_lock_and_rolls_back_when_stopped(tmp_path):
    spec = random_spec()
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")  # an application that never gets ready
    fake.chmod(0o755)
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), "up", *spec_args(spec)],
        env=dict(os.environ, TCPLAB_PYTHON=str(fake)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 30
        rec = None
        while time.monotonic() < deadline:
            try:
                rec = record_of(spec)
            except (OSError, ValueError):
                rec = None
            if rec is not None and rec.app is not None:
                break
            time.sleep(0.05)
        assert rec is not None and rec.app is not None, "up never started the application"
        assert rec.builder is not None and rec.builder.pid == proc.pid
        assert rec.builder.start_ticks == start_ticks(proc.pid) and not rec.complete
        assert len(rec.namespaces) == 2
        started = time.monotonic()
        down = sh("down", "--crafting", spec.crafting)
        assert time.monotonic() - started < 20, (
            "down waited for the lock: up held it while building"
        )
        assert down.returncode == 3 and "being set up right now" in down.stderr
        teardown = run_cli("teardown", "--crafting", spec.crafting)
        assert teardown.returncode == 3 and "being set up right now" in teardown.stderr
        assert ns_exists(spec.crafting) and ns_exists(spec.kernel)

        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 143, err
        assert "removing what it made" in err
        assert not ns_exists(spec.crafting) and not ns_exists(spec.kernel)
        assert not (labs_path() / spec.crafting).exists()
        assert not app_running(rec.app)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cleanup(spec)


@pytest.mark.netns
def test_it_waits_for_tcplab_s_lock():
    spec = random_spec()
    from tcplab.netns.lock import open_lock

    fd = open_lock()
    fcntl.flock(fd, fcntl.LOCK_EX)
    release = threading.Timer(1.5, os.close, (fd,))
    started = time.monotonic()
    release.start()
    try:
        out = sh("down", "--crafting", spec.crafting)
        assert out.returncode == 0 and "nothing to remove" in out.stdout
        assert time.monotonic() - started >= 1.4
    finally:
        release.join()
        cleanup(spec)


@pytest.mark.netns
def test_a_failing_up_rolls_back_everything(tmp_path):
    spec = random_spec()
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 'fake python: no application today' >&2\nexit 1\n")
    fake.chmod(0o755)
    try:
        out = sh("up", *spec_args(spec), env=dict(os.environ, TCPLAB_PYTHON=str(fake)))
        assert out.returncode == 3
        assert "did not start" in out.stderr and "removing what it made" in out.stderr
        assert not ns_exists(spec.crafting) and not ns_exists(spec.kernel)
        assert not (labs_path() / spec.crafting).exists()
    finally:
        cleanup(spec)


@pytest.mark.netns
def test_up_refuses_a_namespace_it_did_not_create_and_creates_nothing():
    spec = random_spec()
    subprocess.run(["ip", "netns", "add", spec.kernel], check=True)
    try:
        out = sh("up", *spec_args(spec))
        assert out.returncode == 3
        assert len(out.stderr.splitlines()) == 1 and "not created by tcplab" in out.stderr
        assert not ns_exists(spec.crafting) and not (labs_path() / spec.crafting).exists()
    finally:
        subprocess.run(["ip", "netns", "del", spec.kernel], check=False)
        cleanup(spec)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frob"],
        ["up", "down"],
        ["up", "--port"],
        ["up", "--port", "0"],
        ["up", "--port", "x"],
        ["up", "--port", "65536"],
        ["up", "--subnet", "10.0.0.0/31"],
        ["up", "--subnet", "10.0.0/24"],
        ["up", "--subnet", "127.8.0.0/16"],
        ["up", "--subnet", "169.254.3.0/24"],
        ["up", "--subnet", "224.1.0.0/16"],
        ["up", "--subnet", "0.1.0.0/16"],
        ["up", "--subnet", "0.0.0.0/0"],
        ["up", "--subnet", "8.8.8.0/24"],
        ["up", "--subnet", "172.32.0.0/16"],
        ["up", "--crafting", "../../../tmp/x"],
        ["down", "--crafting", "/tmp/x"],
        ["down", "--crafting", ".."],
        ["up", "--crafting", "a", "--kernel", "a"],
        ["up", "--crafting", "bad/name"],
        ["status", "--bogus"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(args):
    out = sh(*args)
    assert out.returncode == 2
    assert out.stdout == "" and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("netns_setup.sh: error: ")


@pytest.mark.parametrize("command", ["up", "down", "status"])
def test_refuses_non_root_with_exit_3(command):
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root")
    # a copy that user nobody can read, wherever the checkout is
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        script = Path(tmp) / "netns_setup.sh"
        shutil.copy(SCRIPT, script)
        script.chmod(0o755)
        cmd = ["bash", str(script), command]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd="/")
    assert out.returncode == 3
    assert out.stderr.splitlines() == [
        f"netns_setup.sh: error: {command} needs root; run it with sudo: sudo {script} {command}"
    ]


def test_script_is_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        if IN_CI:
            pytest.fail("CI=true but shellcheck is not installed")
        pytest.skip("shellcheck is not installed")
    out = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stdout + out.stderr


@pytest.mark.netns
def test_it_says_for_whom_it_waits():
    from tcplab.netns.lock import acquire, open_lock

    spec = random_spec()
    fd = open_lock()
    acquire(fd)  # writes this process's pid into the lock
    release = threading.Timer(1.0, os.close, (fd,))
    release.start()
    try:
        out = sh("down", "--crafting", spec.crafting)
        assert out.returncode == 0 and "nothing to remove" in out.stdout
        assert out.stderr.splitlines() == [
            f"netns_setup.sh: waiting for another tcplab command (pid {os.getpid()}) to finish"
        ]
    finally:
        release.join()
        cleanup(spec)
