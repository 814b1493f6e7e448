"""The sandbox on the real kernel: nothing outlives a killed `tcplab grade` or `tcplab lab check`,
the reaper removes what killed runs left and never a live run, the system-call filter, fresh uids
and keyrings, and the memory cgroup's exact OOM count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcplab import linux
from tcplab.defaults import CHECK_PREFIX, GRADE_PREFIX
from tcplab.sandbox import cgroup, reaper, runner, tether
from tests.conftest import REPO, remove_testbed, run_cli

pytestmark = pytest.mark.netns

SLEEPER = """\
import os, time
if os.fork() == 0:
    os.setsid()  # a daemon: out of the process group, still in the run's control group
    time.sleep(10000)
print("sleeping", flush=True)
time.sleep(10000)
"""


def start_time(pid: int) -> str | None:
    """The process's start time (None once it is gone or a zombie): a pid is never mistaken
    for a later process that reused it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in "ZX" else fields[19]


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of `pid` with its start time and command line."""
    found: dict[int, str] = {}
    todo = children(pid)
    while todo:
        p = todo.pop()
        try:
            found[p] = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        todo += children(p)
    return found


def uid_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/status").read_text().split("\nUid:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return -1


def group_of(pid: int) -> str | None:
    """The tcplab control group `pid` is in (its name), if any."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name = line.rpartition("/")[2]
        if name.startswith(cgroup.PREFIX):
            return name
    return None


def wait_for(predicate: object, timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(every)
    return False


def gone_within(pids: dict[int, str], starts: dict[int, str | None], timeout: float) -> list[str]:
    """The processes of `pids` still alive after `timeout` seconds."""
    wait_for(lambda: all(start_time(p) != starts[p] for p in pids), timeout)
    return [f"{p} {cmd}" for p, cmd in pids.items() if start_time(p) == starts[p]]


def lab_of(processes: dict[int, str], prefix: str) -> str | None:
    for cmd in processes.values():
        if "tcplab.app.server" in cmd and f"/labs/{prefix}" in cmd:
            return cmd.split("/labs/")[1].split("/")[0]
    return None


def kill_and_check(
    proc: subprocess.Popen[bytes], is_student: object, prefix: str
) -> tuple[dict[int, str | None], str]:
    """Wait for the student's process, SIGKILL `proc`; what of its run is still alive 2 s later
    (pid: start time; the lab's own application aside: teardown removes the lab), and the run's
    control group."""
    found: dict[int, str] = {}

    def student_running() -> bool:
        found.update(descendants(proc.pid))
        return any(is_student(p) for p in found)  # type: ignore[operator]

    crafting = None
    try:
        assert wait_for(student_running, 180, 0.1), "the solution never started"
        time.sleep(0.5)  # the daemon it forks
        found.update(descendants(proc.pid))
        group = next(g for p in found if (g := group_of(p)) is not None)
        crafting = lab_of(found, prefix)
        starts = {p: start_time(p) for p in found if "tcplab.app.server" not in found[p]}
        run = {p: found[p] for p, start in starts.items() if start is not None}  # alive now
        proc.kill()
        proc.wait()
        gone_within(run, starts, 2.0)
        return {p: starts[p] for p in run if start_time(p) == starts[p]}, group
    finally:
        end_grade(proc, crafting)


def end_grade(proc: subprocess.Popen[bytes], crafting: str | None) -> None:
    """Whatever a test left: the grade it started (killed), and the testbed it was grading on."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if crafting is not None:
        remove_testbed(crafting, crafting[:-1] + "k")


def assert_reaped(group: str) -> None:
    lines = reaper.reap_stale()
    assert any(group in line for line in lines), lines
    assert_run_gone(group.removeprefix(cgroup.PREFIX))


def assert_run_gone(tag: str) -> None:
    """No control group, folder or claim of run `tag` is left."""
    assert not cgroup.Cgroup(tag).exists()
    assert not (reaper.WORK / tag).exists()
    assert not (reaper.WORK / f"{tag}.lock").exists()


def grade_a_sleeper(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A real `tcplab grade` of one student whose solution sleeps forever."""
    subs = tmp_path / "subs"
    (subs / "sleeper").mkdir(parents=True)
    (subs / "sleeper" / "handshake.py").write_text(SLEEPER)
    return subprocess.Popen(
        [
            sys.executable, "-m", "tcplab", "grade", str(subs), "--lab", "handshake",
            "--out", str(tmp_path / "out"), "-j", "1", "--time-limit", "120", "--seed", "k",
        ],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=(tmp_path / "stderr").open("wb"),
    )  # fmt: skip


def test_a_sigkilled_grade_leaves_no_process_and_the_reaper_the_rest(tmp_path: Path) -> None:
    proc = grade_a_sleeper(tmp_path)
    left, group = kill_and_check(
        proc, lambda p: uid_of(p) in range(runner.UID_BASE, runner.UID_BASE + 1000), GRADE_PREFIX
    )
    assert left == {}, "still running 2 s after the grader was killed"
    assert_reaped(group)


def test_a_sigkilled_lab_check_leaves_no_process_and_the_reaper_the_rest(
    tmp_path: Path,
) -> None:
    solution = tmp_path / "handshake.py"
    solution.write_text(SLEEPER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcplab", "lab", "check", "handshake", str(solution)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def is_solution(pid: int) -> bool:
        try:
            return str(solution) in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        except OSError:
            return False

    left, group = kill_and_check(proc, is_solution, CHECK_PREFIX)
    # the solution dies with lab check at once; its daemon (setsid) waits for the reaper
    assert len(left) <= 1 and all(is_solution(p) for p in left), left
    assert_reaped(group)
    assert all(start_time(p) != start for p, start in left.items())


def hold_run(tag: str, with_process: bool = True) -> subprocess.Popen[str]:
    """A process that claims run `tag`, makes its group and folder, starts a sleeper in the
    group, says "ready" and waits: a live run until it is killed."""
    code = textwrap.dedent(f"""
        import subprocess, sys, time
        from tcplab.sandbox import cgroup, reaper, tether
        with reaper.claim({tag!r}):
            group = cgroup.Cgroup({tag!r})
            group.create(None, None)
            (reaper.WORK / {tag!r}).mkdir()
            if {with_process}:
                group.join(subprocess.Popen(["/bin/sleep", "1000"]).pid)  # not tethered
            print("ready", flush=True)
            time.sleep(1000)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture
def runs() -> Iterator[list[tuple[str, subprocess.Popen[str]]]]:
    made: list[tuple[str, subprocess.Popen[str]]] = []
    yield made
    for tag, proc in made:
        proc.kill()
        proc.wait()
        cgroup.Cgroup(tag).remove()
        for path in (reaper.WORK / tag, reaper.WORK / f"{tag}.lock"):
            if path.is_dir():
                path.rmdir()
            elif path.exists():
                path.unlink()


def test_the_reaper_removes_a_killed_run_and_never_touches_a_live_one(
    runs: list[tuple[str, subprocess.Popen[str]]],
) -> None:
    dead, live = (f"tst-{uuid.uuid4().hex[:10]}" for _ in range(2))
    for tag in (dead, live):
        runs.append((tag, hold_run(tag)))
    live_sleeper = cgroup.Cgroup(live).pids()
    dead_sleeper = cgroup.Cgroup(dead).pids()
    assert len(live_sleeper) == len(dead_sleeper) == 1
    runs[0][1].kill()
    runs[0][1].wait()
    lines = reaper.reap_stale()
    assert (
        f"removed the control group tcplab-{dead} and its 1 process of a run that was killed"
        in (lines)
    )
    assert f"removed the sandbox folder {reaper.WORK / dead} of a run that was killed" in lines
    assert not any(live in line for line in lines)
    assert start_time(dead_sleeper[0]) is None
    assert cgroup.Cgroup(live).pids() == live_sleeper and (reaper.WORK / live).is_dir()
    assert (reaper.WORK / f"{live}.lock").is_file()
    runs[1][1].kill()  # now the second run is over too
    runs[1][1].wait()
    assert any(live in line for line in reaper.reap_stale())
    assert start_time(live_sleeper[0]) is None and not cgroup.Cgroup(live).exists()


def test_an_unclaimed_group_is_removed_only_once_its_tcplab_parent_is_gone() -> None:
    """A group made by a tcplab without claims: kept while its processes' parent is a tcplab
    process, removed (its processes killed) once they are orphans."""
    tag = f"tst-{uuid.uuid4().hex[:10]}"
    group = cgroup.Cgroup(tag)
    group.create(None, None)
    code = (
        "import subprocess, time; "
        "print(subprocess.Popen(['/bin/sleep', '1000']).pid, flush=True); time.sleep(1000)"
    )
    parent = subprocess.Popen(  # its argv names it as an older tcplab's zygote
        [sys.executable, "-c", code, "tcplab.sandbox.zygote"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        group.join(int(parent.stdout.readline()))
        assert not any(tag in line for line in reaper.reap_stale())
        assert group.pids()
        parent.kill()
        parent.wait()
        lines = reaper.reap_stale()
        assert (
            f"removed the control group tcplab-{tag} and its 1 process of a run that was killed"
            in lines
        )
        assert not group.exists()
    finally:
        parent.kill()
        parent.wait()
        group.remove()


def test_students_of_one_run_never_share_a_uid(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    for name in ("ann", "bob", "cy"):
        (subs / name).mkdir(parents=True)
        (subs / name / "handshake.py").write_text("import os\nprint('uid', os.getuid())\n")
    proc = run_cli(
        "grade", str(subs), "--lab", "handshake", "--out", str(tmp_path / "out"), "-j", "1",
        "--seed", "uids", timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcomes = json.loads((tmp_path / "out" / "grade.json").read_text())["outcomes"]
    uids = {o["student"]: o["stdout"].split()[1] for o in outcomes}
    assert len(set(uids.values())) == 3, uids


def test_uid_slots_are_not_reused_within_a_process() -> None:
    seen = []
    for _ in range(5):
        with runner.uid_slot() as uid:
            seen.append(uid)
    assert len(set(seen)) == 5


KEY_SPEC_USER_KEYRING = -4
KEYCTL_SEARCH = 10


def _as_uid(uid: int, body: str) -> str:
    """Run `body` (Python, with `libc`, `nr`, `linux` defined) as `uid` in a fresh process; its
    output."""
    code = textwrap.dedent(f"""
        import ctypes, errno, os, platform
        from tcplab import linux
        libc = ctypes.CDLL(None, use_errno=True)
        nr = {{"x86_64": (248, 250), "aarch64": (217, 219)}}[platform.machine()]
        os.setresgid({uid}, {uid}, {uid})
        os.setresuid({uid}, {uid}, {uid})
    """) + textwrap.dedent(body)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    return out.stdout.strip()


SEARCH = """
    found = libc.syscall(ctypes.c_long(nr[1]), ctypes.c_long(10), ctypes.c_long(-4), b"user",
                         b"tcplab-test-secret", ctypes.c_long(0))
    print("found" if found > 0 else errno.errorcode[ctypes.get_errno()])
"""


def test_a_later_user_of_a_uid_finds_its_keyrings_empty() -> None:
    uid = 3_900_000_000 + uuid.uuid4().int % 1_000_000
    added = _as_uid(uid, """
        key = libc.syscall(ctypes.c_long(nr[0]), b"user", b"tcplab-test-secret", b"data",
                           ctypes.c_size_t(4), ctypes.c_long(-4))
        print("added" if key > 0 else errno.errorcode[ctypes.get_errno()])
    """)  # fmt: skip
    assert added == "added"
    assert _as_uid(uid, SEARCH) == "found"  # the kernel keeps it for the next process
    assert _as_uid(uid, "linux.fresh_keyrings()\n" + textwrap.dedent(SEARCH)) == "ENOKEY"


def test_the_filter_denies_namespaces_keyrings_and_mounts_and_keeps_raw_sockets() -> None:
    code = textwrap.dedent("""
        import ctypes, errno, os, socket
        from tcplab import linux
        from tcplab.sandbox import seccomp
        libc = ctypes.CDLL(None, use_errno=True)
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
        seccomp.install()
        def show(name, result):
            print(name, "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()])
        show("unshare", libc.unshare(linux.CLONE_NEWUSER))
        show("mount", libc.mount(b"none", b"/mnt", b"tmpfs", 0, None))
        show("keyctl", libc.syscall(250, 0, -4, 0))
        show("clone3", libc.syscall(435, 0, 0))
        for family, kind in ((socket.AF_PACKET, socket.SOCK_RAW), (socket.AF_INET, socket.SOCK_RAW)):
            socket.socket(family, kind, 6 if family == socket.AF_INET else 0).close()
        print("raw sockets ok")
    """)
    if os.uname().machine != "x86_64":
        pytest.skip("the system-call numbers in this test are x86_64's")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout.split("\n")
    assert out[:5] == [
        "unshare EPERM",
        "mount EPERM",
        "keyctl EPERM",
        "clone3 ENOSYS",
        "raw sockets ok",
    ]


def test_oom_kills_are_counted_from_the_memory_cgroup_not_from_output() -> None:
    group = cgroup.Cgroup(f"tst-{uuid.uuid4().hex[:10]}")
    group.create(64 << 20, 64)
    try:
        hog = "b = []\nwhile True: b.append(bytearray(1 << 20))"
        done = subprocess.run(tether.command([sys.executable, "-c", hog], group.procs_files()))
        assert done.returncode == -signal.SIGKILL
        liar = "import sys; sys.stderr.write('MemoryError\\n')"
        subprocess.run(tether.command([sys.executable, "-c", liar], group.procs_files()))
        assert group.usage().oom_kills == 1  # the hog; the liar's "MemoryError" is not counted
    finally:
        group.remove()


def test_a_process_tied_to_a_parent_that_is_already_gone_dies_at_once() -> None:
    """die_with_parent's check closes the race of a parent that died before the prctl."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(r)
        parent = os.getpid()
        if os.fork() == 0:
            time.sleep(0.3)  # the parent is gone by now
            try:
                linux.die_with_parent(parent)
                os.write(w, b"survived")
            finally:
                os._exit(0)
        os._exit(0)
    os.close(w)
    os.waitpid(middle, 0)
    with os.fdopen(r, "rb") as f:
        assert f.read() == b""  # every write end closed: the orphan ended without writing


@pytest.mark.parametrize("thread", ["main", "worker"])
def test_the_zygote_dies_with_a_killed_grader_whichever_thread_started_it(thread: str) -> None:
    """From the main thread the parent-death signal ends it; from a worker thread (where that
    signal would fire when the thread ends) the socket's end of file does."""
    code = textwrap.dedent(f"""
        import threading, time
        from tcplab.sandbox.zygote import Zygote
        def start():
            z = Zygote()
            print(z.proc.pid, flush=True)
            time.sleep(1000)
        if {thread!r} == "main":
            start()
        threading.Thread(target=start).start()
    """)
    grader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert grader.stdout is not None
        zygote = int(grader.stdout.readline())
        started = start_time(zygote)
        assert started is not None
        grader.kill()
        grader.wait()
        assert wait_for(lambda: start_time(zygote) != started, 2.0)
    finally:
        grader.kill()
        grader.wait()


def test_after_a_sigkilled_grade_the_next_command_leaves_nothing(tmp_path: Path) -> None:
    """The issue's acceptance, end to end: `tcplab grade` with a student sleeping forever is
    SIGKILLed; within 2 s no process of it is left, the lab's application included; the next tcplab
    command (here a `setup` of another lab) removes its lab, control group and sandbox folder."""
    from tests.conftest import unique_names

    proc = grade_a_sleeper(tmp_path)
    crafting = None
    try:
        is_student = lambda p: uid_of(p) in range(runner.UID_BASE, runner.UID_BASE + 1000)  # noqa: E731
        found: dict[int, str] = {}

        def student_running() -> bool:
            found.update(descendants(proc.pid))
            return any(is_student(p) for p in found)

        assert wait_for(student_running, 180, 0.1), "the solution never started"
        found.update(descendants(proc.pid))
        crafting = lab_of(found, GRADE_PREFIX)
        assert crafting is not None, found
        group = next(g for p in found if (g := group_of(p)) is not None)
        tag = group.removeprefix(cgroup.PREFIX)
        starts = {p: start_time(p) for p in found}
        alive = {p: cmd for p, cmd in found.items() if starts[p] is not None}  # not already over
        proc.kill()
        proc.wait()
        assert gone_within(alive, starts, 2.0) == [], "alive 2 s after the grader was killed"

        mine, theirs = unique_names()
        made = run_cli("setup", "--crafting", mine, "--kernel", theirs, "--subnet", "10.231.0.0/24")
        try:
            assert made.returncode == 0, made.stderr
            assert f"orphaned testbed {crafting}" in made.stderr and group in made.stderr, (
                made.stderr
            )
        finally:
            remove_testbed(mine, theirs)
        for ns in (crafting, crafting[:-1] + "k"):
            assert not os.path.exists(f"/run/netns/{ns}"), ns
        assert not Path(f"/run/tcplab/labs/{crafting}").exists()
        assert_run_gone(tag)
    finally:
        end_grade(proc, crafting)


def test_the_zygote_never_imports_from_the_graders_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sudo tcplab grade` run from inside a student's folder: a json.py there is never run."""
    from tcplab.sandbox.zygote import Zygote

    marker = tmp_path / "ran"
    (tmp_path / "json.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise ImportError\n")
    monkeypatch.chdir(tmp_path)
    with Zygote():
        pass
    assert not marker.exists()


def test_a_uid_that_a_live_process_or_the_host_has_is_never_handed_out() -> None:
    """The sandbox's uids must be nobody's: a host service with one of them (systemd's DynamicUser
    range overlaps) keeps it, and the next free one is taken instead."""
    code = textwrap.dedent("""
        import os, subprocess
        from tcplab.sandbox import runner
        first = runner.UID_BASE + os.getpid() % runner.UID_SLOTS  # this process's first choice
        squatter = subprocess.Popen(
            ["setpriv", f"--reuid={first}", f"--regid={first}", "--clear-groups", "sleep", "60"]
        )
        try:
            import time
            while first not in runner._uids_in_use():
                time.sleep(0.01)
            with runner.uid_slot() as uid:
                print(first, uid, runner._known_id(0), runner._known_id(first))
        finally:
            squatter.kill()
            squatter.wait()
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.returncode == 0, out.stderr
    first, uid, root_known, first_known = out.stdout.split()
    assert uid != first and root_known == "True" and first_known == "False"
