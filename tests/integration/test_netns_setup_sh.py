"""netns_setup.sh, the plain-command account of the lab, held equal to `tcplab setup`.

One lab is built each way, with the same subnet and port and other names. tcplab must see the same
lab (`status --json` and the record it keeps), and so must the plain tools (ip, ethtool, sysctl, nft,
run in each namespace), apart from what differs by construction and is normalised below: the names,
the application's pid and start time, the namespaces' inodes and cookies, the sockets' inodes and
when the record was written. No other difference remains. (The one thing the script does not do as
tcplab does, keep a record while it builds, leaves no trace in a finished lab: the script's header
says so, and an interrupted `up` is tested below.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tcplab.netns import record as records
from tcplab.netns.record import TestbedRecord, TestbedSpec
from tests.conftest import IN_CI, REPO, remove_testbed, unique_names

SCRIPT = REPO / "netns_setup.sh"
TCPLAB = Path(sys.executable).parent / "tcplab"  # the script calls `tcplab`: this one, on PATH
ENV = dict(os.environ, PATH=f"{TCPLAB.parent}{os.pathsep}{os.environ.get('PATH', '')}")
# what each namespace looks like to the plain tools, compared line by line between the two labs
FACTS = (
    "ip -d link show",
    "ip addr show",
    "ip neigh show",
    "ip route show table all",
    "ethtool -k tcplab0",
    "sysctl net",
    "nft list ruleset",
)


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(SCRIPT), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ENV, check=False)


def tcplab(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(TCPLAB), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ENV, check=False)


def lab_spec() -> TestbedSpec:
    crafting, kernel = unique_names()
    return TestbedSpec(crafting, kernel)  # every test lab has the same subnet and port


def spec_args(spec: TestbedSpec) -> list[str]:
    names = [f"--crafting={spec.crafting}", f"--kernel={spec.kernel}"]
    return [*names, f"--subnet={spec.subnet}", f"--port={spec.port}"]


def app_pids(spec: TestbedSpec) -> list[int]:
    """Living processes of this testbed's application (by its control socket on the command line)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if f"labs/{spec.crafting}/app.sock" in argv and state not in ("Z", "X"):
            found.append(int(proc.name))
    return found


def left_of(spec: TestbedSpec) -> list[str]:
    """Whatever of this lab exists: namespaces, its record folder, its application."""
    found = [
        f"namespace {n}" for n in (spec.crafting, spec.kernel) if os.path.lexists(f"/run/netns/{n}")
    ]
    found += (
        [f"record {spec.crafting}"]
        if os.path.lexists(records.testbeds_path() / spec.crafting)
        else []
    )
    return found + [f"process {pid}" for pid in app_pids(spec)]


def remove(*specs: TestbedSpec) -> None:
    for spec in specs:
        remove_testbed(spec.crafting, spec.kernel)


# -- one lab each way ---------------------------------------------------------------------------
@dataclass
class Built:
    spec: TestbedSpec
    status: dict[str, Any]
    record: dict[str, Any]
    facts: dict[str, str]  # role -> what the plain tools show in that namespace


def plain_facts(ns: str) -> str:
    shown = []
    for cmd in FACTS:
        run = subprocess.run(
            ["ip", "netns", "exec", ns, *cmd.split()], capture_output=True, text=True
        )
        shown.append(f"== {cmd}\n{run.stdout}{run.stderr}")
    return "\n".join(shown)


def snapshot(spec: TestbedSpec) -> Built:
    out = tcplab("status", "--crafting", spec.crafting, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    record = TestbedRecord.load(records.testbeds_path() / spec.crafting / "lab.json").to_json()
    facts = {"crafting": plain_facts(spec.crafting), "kernel": plain_facts(spec.kernel)}
    return Built(spec, json.loads(out.stdout)[0], record, facts)


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[Built, Built]]:
    """A lab built by the script and one built by `tcplab setup`, seen before any test uses them."""
    by_script, by_tcplab = lab_spec(), lab_spec()
    try:
        out = sh("up", *spec_args(by_script))
        assert out.returncode == 0 and out.stderr == "", out.stdout + out.stderr
        assert "testbed ready" in out.stdout
        out = tcplab("setup", *spec_args(by_tcplab))
        assert out.returncode == 0, out.stdout + out.stderr
        yield snapshot(by_script), snapshot(by_tcplab)
    finally:
        remove(by_script, by_tcplab)


def normalised(built: Built) -> dict[str, Any]:
    """The snapshot with what differs by construction replaced by a placeholder."""
    text = json.dumps({"status": built.status, "record": built.record, "facts": built.facts})
    for name, role in ((built.spec.crafting, "CRAFTING"), (built.spec.kernel, "KERNEL")):
        text = re.sub(rf"\b{re.escape(name)}\b", role, text)
    data: dict[str, Any] = json.loads(text)
    data["status"]["app"]["pid"] = "PID"
    for row in data["status"]["sockets"]:
        row["inode"] = "INODE"
    rec = data["record"]
    rec["namespaces"], rec["cookies"] = sorted(rec["namespaces"]), sorted(rec["cookies"])
    rec["created"] = "TIME"
    rec["app"]["pid"], rec["app"]["start_ticks"] = "PID", "TICKS"
    return data


@pytest.mark.netns
def test_the_script_builds_the_lab_tcplab_builds(both: tuple[Built, Built]):
    by_script, by_tcplab = (normalised(b) for b in both)
    assert by_script["status"]["healthy"] and by_script["status"]["problems"] == []
    assert by_script["status"] == by_tcplab["status"]
    assert by_script["record"] == by_tcplab["record"]
    assert by_script["facts"]["crafting"] == by_tcplab["facts"]["crafting"]
    assert by_script["facts"]["kernel"] == by_tcplab["facts"]["kernel"]
    # the facts compared are the lab's parts, not two empty outputs
    kernel = by_script["facts"]["kernel"]
    for part in ("PERMANENT", "02:74:6c:00:00:02", "tx-checksum-ip-generic: off"):
        assert part in kernel
    assert "net.ipv6.conf.tcplab0.disable_ipv6 = 1" in kernel
    assert "tcp flags & rst == rst" in by_script["facts"]["crafting"]
    if "net.ipv4.tcp_child_ehash_entries" in kernel:  # Linux 6.1+: the kernel host's own table
        assert "net.ipv4.tcp_ehash_entries = 1024" in kernel


@pytest.mark.netns
def test_a_handshake_against_the_script_s_lab_succeeds(both: tuple[Built, Built]):
    spec = both[0].spec
    out = tcplab("handshake", "--target", f"{spec.kernel}:{spec.port}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"\b(\d+)/\1 checks passed", out.stdout)


@pytest.mark.netns
def test_down_removes_everything_the_script_made():
    spec = lab_spec()
    try:
        assert sh("up", *spec_args(spec)).returncode == 0
        assert len(left_of(spec)) == 4  # two namespaces, the record, the application
        out = sh("down", "--crafting", spec.crafting)
        assert out.returncode == 0 and out.stdout.startswith(f"removed testbed {spec.crafting}")
        assert left_of(spec) == []
        assert sh("status", "--crafting", spec.crafting).returncode == 3
    finally:
        remove(spec)


# -- what must not build anything ----------------------------------------------------------------
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
        ["up", "--subnet", "8.8.8.0/24"],
        ["up", "--subnet", "172.32.0.0/16"],
        ["up", "--crafting", "../../../tmp/x"],
        ["up", "--kernel", "a\nb"],
        ["up", "--kernel", "same", "--crafting", "same"],
        ["down", "--crafting", "/tmp/x"],
        ["status", "--crafting", ".."],
        ["status", "--bogus"],
    ],
)
def test_bad_arguments_exit_2_with_one_error_and_hint_and_create_nothing(args: list[str]):
    spec = lab_spec()
    out = sh(*spec_args(spec), *args)  # the test's own names first: a bad one given later wins
    assert out.returncode == 2 and out.stdout == ""
    error, hint = out.stderr.splitlines()
    assert error.startswith("error: ") and hint.startswith("hint: ")
    assert left_of(spec) == []


def test_it_refuses_a_user_who_is_not_root_with_exit_3():
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root")
    with (
        tempfile.TemporaryDirectory() as tmp
    ):  # a copy user nobody can read, wherever the checkout is
        os.chmod(tmp, 0o755)
        script = Path(shutil.copy(SCRIPT, tmp))
        drop = (
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            if os.geteuid() == 0
            else []
        )
        for command in ("up", "down", "status"):
            out = subprocess.run(
                [*drop, "bash", str(script), command],
                capture_output=True,
                text=True,
                timeout=30,
                cwd="/",
            )
            assert out.returncode == 3
            assert out.stderr.splitlines() == [
                f"error: {command} needs root",
                f"hint: run it with sudo: sudo {script} {command}",
            ]


@pytest.mark.netns
def test_up_refuses_a_namespace_that_exists_and_creates_nothing():
    spec = lab_spec()
    subprocess.run(["ip", "netns", "add", spec.kernel], check=True)
    try:
        out = sh("up", *spec_args(spec))
        assert out.returncode == 3
        assert (
            out.stderr.splitlines()[0] == f"error: network namespace {spec.kernel} already exists"
        )
        assert len(out.stderr.splitlines()) == 2
        assert left_of(spec) == [f"namespace {spec.kernel}"]  # the test's own, left alone
    finally:
        remove(spec)


@pytest.mark.netns
def test_a_lab_tcplab_will_not_adopt_is_rolled_back():
    """The kernel host's name still belongs to another lab (its namespace was removed by hand): the
    script builds everything, tcplab refuses to adopt it, and the script removes what it made."""
    other = lab_spec()
    spec = replace(lab_spec(), kernel=other.kernel)
    try:
        assert tcplab("setup", *spec_args(other)).returncode == 0
        subprocess.run(["ip", "netns", "del", other.kernel], check=True)
        out = sh("up", *spec_args(spec))
        assert out.returncode == 2, out.stderr
        error, _, rolled_back = out.stderr.splitlines()
        assert (
            error
            == f"error: namespace {other.kernel} already belongs to the testbed of {other.crafting}"
        )
        assert rolled_back.endswith(f"removed what it made: {spec.crafting} {spec.kernel}")
        assert left_of(spec) == []
        assert left_of(other) == [f"namespace {other.crafting}", f"record {other.crafting}"] + [
            f"process {pid}" for pid in app_pids(other)
        ]  # the other lab's remains are tcplab's to remove, and left alone
    finally:
        remove(spec, other)


@pytest.mark.netns
def test_tcplab_adopts_only_a_pair_built_as_the_script_builds_it():
    """Bare namespaces (no link, no rule), or a missing one, are refused, nothing is recorded and
    the namespaces are left to whoever made them."""
    spec = lab_spec()
    try:
        out = tcplab("setup", "--adopt", *spec_args(spec))
        assert out.returncode == 3
        assert out.stderr.startswith(f"error: network namespace {spec.crafting} does not exist")
        for name in (spec.crafting, spec.kernel):
            subprocess.run(["ip", "netns", "add", name], check=True)
        out = tcplab("setup", "--adopt", *spec_args(spec))
        assert out.returncode == 3
        assert out.stderr.splitlines()[0] == (
            f"error: namespace {spec.crafting} is not a testbed as netns_setup.sh builds it: "
            f"the link tcplab0 in {spec.crafting} is missing"
        )
        assert left_of(spec) == [f"namespace {spec.crafting}", f"namespace {spec.kernel}"]
    finally:
        remove(spec)


@pytest.mark.netns
@pytest.mark.parametrize("moment", ["a namespace is made", "tcplab is adopting the lab"])
def test_an_interrupted_up_leaves_nothing_behind(moment: str):
    spec = lab_spec()
    mark = (
        records.testbeds_path() / spec.crafting
        if "adopting" in moment
        else Path("/run/netns", spec.crafting)
    )
    cmd = ["bash", str(SCRIPT), "up", *spec_args(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 30
        while not mark.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "up ended before the moment"
            time.sleep(0.001)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert left_of(spec) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        remove(spec)


def test_the_script_is_short_plain_shell_and_shellcheck_clean():
    text = SCRIPT.read_text()
    assert len(text.splitlines()) <= 200
    assert not re.search(
        r"python", text, re.IGNORECASE
    )  # no embedded Python: tcplab's code is called
    if shutil.which("shellcheck") is None:
        if IN_CI:
            pytest.fail("CI=true but shellcheck is not installed")
        pytest.skip("shellcheck is not installed")
    out = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stdout + out.stderr
