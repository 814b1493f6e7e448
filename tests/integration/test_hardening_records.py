"""Issue 17 on real namespaces: teardown acts only on what tcplab provably made, nobody else can
hold tcplab's lock, and nothing of an ephemeral lab outlives its owner.

Tests that run `teardown --all` use a private run folder (TCPLAB_RUN_DIR), so they never see, let
alone remove, labs that other tests (or people) are using at the same time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcplab.netns import lock
from tcplab.netns import record as records
from tcplab.netns.proc import identify, start_ticks
from tcplab.netns.record import run_path
from tests.conftest import REPO, remove_testbed, run_cli, unique_names

pytestmark = pytest.mark.netns


def ns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


@contextlib.contextmanager
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated live process that nothing may signal."""
    p = subprocess.Popen(["sleep", "300"])
    try:
        yield p
    finally:
        p.kill()
        p.wait()


@contextlib.contextmanager
def foreign_namespace() -> Iterator[str]:
    """A namespace tcplab did not make."""
    name, _ = unique_names()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def crafted(foreign: str, victim: subprocess.Popen[bytes], crafting: str) -> dict:
    """A record naming a foreign namespace (its real inode) and an unrelated live process."""
    return {
        "format": "tcplab-lab/1",
        "spec": {"crafting": crafting, "kernel": foreign, "subnet": "10.9.0.0/24", "port": 80},
        "namespaces": {foreign: os.stat(f"/run/netns/{foreign}").st_ino},
        "cookies": {},
        "app": {
            "pid": victim.pid,
            "start_ticks": start_ticks(victim.pid),
            "control": str(records.control_path(crafting)),
        },
        "complete": True,
        "created": time.time(),
        "builder": None,
    }


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_teardown_with_a_path_removes_and_signals_nothing(how):
    with tempfile.TemporaryDirectory() as tmp, foreign_namespace() as foreign, sleeper() as victim:
        target = Path(tmp) / "some" / "dir"
        target.mkdir(parents=True)
        (target / "lab.json").write_text(json.dumps(crafted(foreign, victim, "x")))
        (target / "precious").write_text("keep me")
        arg = (
            str(target)
            if how == "absolute"
            else os.path.relpath(target, records.testbeds_path() / "x")
        )
        for command in (["teardown", "--crafting", arg], ["status", "--crafting", arg]):
            out = run_cli(*command)
            assert out.returncode == 2, out
            assert out.stderr.startswith("error: bad crafting namespace name")
            assert len(out.stderr.splitlines()) == 2 and "Traceback" not in out.stderr
        assert (target / "lab.json").exists() and (target / "precious").read_text() == "keep me"
        assert ns_exists(foreign) and victim.poll() is None


def make_record_folder(name: str) -> Path:
    folder = records.testbeds_path() / name
    folder.mkdir(mode=0o700, parents=True)
    (folder / "app.log").write_text("kept")
    return folder


@pytest.mark.parametrize(
    "kind", ["no cookie", "not root's", "symlinked folder", "legacy app", "wrong command line"]
)
def test_a_crafted_record_in_the_labs_folder_removes_and_signals_nothing(kind, tmp_path):
    crafting, _ = unique_names()
    with foreign_namespace() as foreign, sleeper() as victim:
        folder = records.testbeds_path() / crafting
        data = crafted(foreign, victim, crafting)
        if kind in ("legacy app", "wrong command line"):  # the app named is someone else's
            data["namespaces"] = {}
        if kind == "wrong command line":
            data["app"]["cmdline"] = ["python3", "-m", "tcplab.app.server"]
        if kind == "symlinked folder":
            (tmp_path / "d").mkdir(mode=0o700)
            folder.symlink_to(tmp_path / "d")
        else:
            folder.mkdir(mode=0o700, parents=True)
        try:
            (folder / "app.log").write_text("kept")
            path = folder / "lab.json"
            path.write_text(json.dumps(data))
            if kind == "not root's":
                os.chown(path, 65534, 65534)
            out = run_cli("teardown", "--crafting", crafting)
            assert "Traceback" not in out.stderr
            assert ns_exists(foreign) and victim.poll() is None
            if kind in ("not root's", "symlinked folder"):
                assert out.returncode == 3 and "is not trusted" in out.stderr
                assert len(out.stderr.splitlines()) == 2 and path.exists()
                assert (folder / "app.log").exists()
            else:  # written by root: trusted, but what it names is not provably tcplab's
                assert out.returncode == 0, out.stderr
                assert "only its record" in out.stdout and not folder.exists()
            if kind == "no cookie":
                assert f"left alone: namespace {foreign}" in out.stdout
        finally:
            if folder.is_symlink():
                folder.unlink()
            shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_an_odd_lab_json_is_refused_quickly_and_nothing_is_deleted(kind, tmp_path):
    crafting, _ = unique_names()
    folder = make_record_folder(crafting)
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    lab_json = folder / "lab.json"
    try:
        {"fifo": os.mkfifo, "directory": os.mkdir}.get(kind, lambda p: p.symlink_to(target))(
            lab_json
        )
        for command in (["teardown", "--crafting", crafting], ["status", "--crafting", crafting]):
            out = run_cli(*command, timeout=20)
            assert out.returncode == 3, out
            assert "Traceback" not in out.stderr
        assert "is not trusted" in run_cli("teardown", "--crafting", crafting).stderr
        status = run_cli("status", "--crafting", crafting, "--json")
        broken = json.loads(status.stdout)
        assert broken[0]["healthy"] is False and "not trusted" in broken[0]["problems"][0]
        assert (folder / "app.log").read_text() == "kept" and os.path.lexists(lab_json)
        assert target.read_text() == "{}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_an_unprivileged_user_cannot_block_tcplab():
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root")
    os.close(lock.open_lock())  # the lock file exists, as after any tcplab command
    grab = (
        "import fcntl, os, sys, time\n"
        "held = []\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        fd = os.open(path, os.O_RDONLY)\n"
        "        fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "        held.append(path)\n"
        "    except OSError as exc:\n"
        "        print('refused', path, exc.errno, flush=True)\n"
        "print('holding', held, flush=True)\n"
        "time.sleep(60)\n"
    )
    paths = [str(run_path() / "lock"), str(run_path()), str(records.testbeds_path())]
    user = subprocess.Popen(
        [*NOBODY, sys.executable, "-c", grab, *paths], stdout=subprocess.PIPE, text=True
    )
    try:
        assert user.stdout is not None
        lines = [user.stdout.readline() for _ in range(2)]
        assert lines[0].startswith(f"refused {run_path() / 'lock'} 13"), lines  # EACCES
        crafting, _ = unique_names()
        started = time.monotonic()
        out = run_cli("teardown", "--crafting", crafting, timeout=20)
        assert out.returncode == 0 and "nothing to remove" in out.stdout
        assert time.monotonic() - started < 5
    finally:
        user.kill()
        user.wait()


def test_a_command_waiting_for_the_lock_says_for_whom_and_answers_ctrl_c_at_once(tmp_path):
    crafting, kernel = unique_names()
    fd = lock.open_lock()
    try:
        lock.acquire(fd)
        err = tmp_path / "err"
        with err.open("w") as stderr:
            p = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tcplab",
                    "setup",
                    "--crafting",
                    crafting,
                    "--kernel",
                    kernel,
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=REPO,
            )
        time.sleep(2.0)
        assert p.poll() is None, "it did not wait for the lock"
        assert (
            f"waiting for another tcplab command (pid {os.getpid()}) to finish" in err.read_text()
        )
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=5) == 130
        assert time.monotonic() - sent < 1
        text = err.read_text()
        assert "Traceback" not in text and text.count("waiting for") == 1
        assert not ns_exists(crafting) and not (records.testbeds_path() / crafting).exists()
    finally:
        os.close(fd)
        remove_testbed(crafting, kernel)


def test_a_second_setup_waits_for_the_builder_then_finds_the_lab_whole(tmp_path):
    crafting, kernel = unique_names()
    try:
        assert run_cli("setup", "--crafting", crafting, "--kernel", kernel).returncode == 0
        path = records.testbeds_path() / crafting / "lab.json"
        err = tmp_path / "err"
        with sleeper() as builder, err.open("w") as stderr:
            me = identify(builder.pid)
            assert me is not None
            data = json.loads(path.read_text())
            data["builder"] = {"pid": me.pid, "start_ticks": me.start_ticks, "cmdline": me.cmdline}
            path.write_text(json.dumps(data))
            second = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tcplab",
                    "setup",
                    "--crafting",
                    crafting,
                    "--kernel",
                    kernel,
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=REPO,
            )
            deadline = time.monotonic() + 30
            while f"waiting for pid {builder.pid}" not in err.read_text():
                assert second.poll() is None, "setup did not wait for the builder"
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert second.poll() is None
        # the builder is gone now: the waiting setup finds the lab whole
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 0, err.read_text()
        assert "already set up" in out and err.read_text().count("waiting for") == 1
    finally:
        remove_testbed(crafting, kernel)


# -- ephemeral labs and orphans, in a private run folder --------------------------------------------
OWNER = """
import sys, time
from tcplab.netns.record import TestbedSpec
from tcplab.netns.topology import setup
rec, _ = setup(TestbedSpec(sys.argv[1], sys.argv[2], listen=True), ephemeral=True)
print(rec.app.pid, flush=True)
time.sleep(300)
"""


@pytest.fixture
def private_run() -> Iterator[dict[str, str]]:
    """The environment of a tcplab with its own run folder; everything in it removed afterwards."""
    run_dir = Path(f"/run/tcplab-test-{uuid.uuid4().hex[:8]}")
    env = dict(os.environ, TCPLAB_RUN_DIR=str(run_dir))
    try:
        yield env
    finally:
        run_cli("teardown", "--all", env=env)
        shutil.rmtree(run_dir, ignore_errors=True)


def start_owner(env: dict[str, str]) -> tuple[subprocess.Popen[str], tuple[str, str], int]:
    names = unique_names()
    p = subprocess.Popen(
        [sys.executable, "-c", OWNER, *names], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    assert p.stdout is not None
    return p, names, int(p.stdout.readline())


def wait_gone(pid: int, ticks: int | None, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if start_ticks(pid) != ticks:
            return True
        time.sleep(0.02)
    return False


def test_orphans_are_removed_and_labs_in_use_are_left_alone(private_run):
    env = private_run
    dead, (dc, dk), dead_app = start_owner(env)
    live, (lc, lk), live_app = start_owner(env)
    other_c, other_k = unique_names()
    try:
        dead_ticks = start_ticks(dead_app)
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        # the application watches its owner (a pidfd): it exits at once, SIGKILL or not
        assert wait_gone(dead_app, dead_ticks, 2.0), "the orphan's application outlived its owner"
        assert ns_exists(dc) and ns_exists(dk)  # until the next tcplab command

        # the next tcplab command, whatever it is, removes the orphan first ("tidied: …", on
        # stderr: stdout may be JSON in other commands)
        single = run_cli("teardown", "--crafting", lc, env=env)
        assert single.returncode == 3 and f"in use by pid {live.pid}" in single.stderr
        assert f"removed orphaned testbed {dc} ⇄ {dk} (its owner, pid {dead.pid}, is gone)" in (
            single.stderr
        )
        assert not ns_exists(dc) and not ns_exists(dk)

        setup = run_cli("setup", "--crafting", other_c, "--kernel", other_k, env=env)
        assert setup.returncode == 0, setup.stderr

        out = run_cli("teardown", "--all", env=env)
        assert out.returncode == 0, out.stderr
        assert f"left alone: testbed {lc} ⇄ {lk} is in use by pid {live.pid}" in out.stdout
        assert f"removed testbed {other_c} ⇄ {other_k}" in out.stdout
        assert ns_exists(lc) and ns_exists(lk) and start_ticks(live_app) is not None
        assert not ns_exists(other_c)

        live_ticks = start_ticks(live_app)
        live.send_signal(signal.SIGKILL)
        live.wait()
        assert wait_gone(live_app, live_ticks, 2.0)
        out = run_cli("teardown", "--all", env=env)
        assert f"removed orphaned testbed {lc} ⇄ {lk} (its owner, pid {live.pid}, is gone)" in (
            out.stdout
        )
        assert not ns_exists(lc) and not ns_exists(lk)
    finally:
        for p in (dead, live):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_teardown_all_goes_past_a_lab_being_built_and_an_untrusted_record(private_run):
    env = private_run
    building, whole = unique_names(), unique_names()
    with sleeper() as builder:
        for c, k in (building, whole):
            assert run_cli("setup", "--crafting", c, "--kernel", k, env=env).returncode == 0
        labs = Path(env["TCPLAB_RUN_DIR"]) / "labs"
        path = labs / building[0] / "lab.json"
        data = json.loads(path.read_text())
        me = identify(builder.pid)
        assert me is not None
        data["builder"] = {"pid": me.pid, "start_ticks": me.start_ticks, "cmdline": me.cmdline}
        path.write_text(json.dumps(data))
        bad = labs / "tltgarbled"
        bad.mkdir(mode=0o700)
        (bad / "lab.json").write_text("[" * 5000)
        out = run_cli("teardown", "--all", env=env)
        assert out.returncode == 3 and "Traceback" not in out.stderr
        assert f"is being set up right now by pid {builder.pid}" in out.stdout
        assert f"removed testbed {whole[0]} ⇄ {whole[1]}" in out.stdout
        assert "record(s) not trusted" in out.stderr and (bad / "lab.json").exists()
        assert ns_exists(building[0]) and not ns_exists(whole[0])
        status = run_cli("status", env=env)
        assert status.returncode == 3 and "testbed tltgarbled: BROKEN record" in status.stdout
        shutil.rmtree(bad)
