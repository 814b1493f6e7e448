"""Running one solution in the sandbox: its workspace, control group and user id, the run itself
under a wall-clock limit with its output capped, and what it used. Everything made is removed when
the run ends, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import json
import os
import pwd
import selectors
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _
from tcplab.sandbox.cgroup import Cgroup, Usage
from tcplab.sandbox.jail import Job
from tcplab.sandbox.reaper import UIDS, WORK, claim
from tcplab.sandbox.zygote import Zygote

UID_BASE = 61000  # sandbox users: 61000..61999, one per run at a time, never a login
UID_SLOTS = 1000
UID_ATTEMPTS = 8  # a uid's lock file can be released and unlinked between open and flock

_uses: dict[int, int] = {}  # slot -> when this process last handed it out (a counter)
_uses_lock = threading.Lock()


@dataclass(frozen=True)
class Limits:
    wall_s: float = 30.0
    cpu_s: int = 30
    memory: int = 256 << 20
    pids: int = 64
    fsize: int = 8 << 20
    output: int = 1 << 20  # bytes of stdout + stderr; more ends the run
    excerpt: int = 4000  # characters kept of each stream

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "memory_bytes": self.memory,
            "processes": self.pids,
            "file_size_bytes": self.fsize,
            "output_bytes": self.output,
        }


@dataclass
class SandboxRun:
    """How a sandboxed run ended and what it used; the solution's output is kept for people only."""

    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    output_capped: bool = False
    stdout: str = ""
    stderr: str = ""
    output_bytes: int = 0
    wall_s: float = 0.0
    usage: Usage = field(default_factory=lambda: Usage(0.0, 0, 0, 0))
    sandbox_error: str | None = None
    uid: int = 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@contextlib.contextmanager
def uid_slot() -> Iterator[int]:
    """A sandbox uid no other run uses now (a lock file per uid), and one this process has not
    handed out before while any is left (then the one used longest ago): a student never gets the
    uid of an earlier student of the same run. The student's keyrings are emptied at the start of
    each run anyway (jail.py), and the filter denies the keyring calls."""
    lock_dir = WORK / UIDS
    lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    taken = _uids_in_use()
    for n in _slot_order():
        if UID_BASE + n in taken or _known_id(UID_BASE + n):
            continue  # a host account or a live process has it (systemd's DynamicUser range...)
        fd = _lock_slot(lock_dir / str(n))
        if fd is None:
            continue
        with _uses_lock:
            _uses[n] = max(_uses.values(), default=0) + 1
        try:
            yield UID_BASE + n
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock_dir / str(n))  # still locked: nobody takes it in between
            os.close(fd)
        return
    raise EnvironmentProblem(
        _("every sandbox user id is in use"), _("run fewer grading jobs at once")
    )


def _uids_in_use() -> set[int]:
    """The uids that own a process on this machine now (a /proc/PID folder belongs to its
    process's uid)."""
    uids = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                uids.add(entry.stat(follow_symlinks=False).st_uid)
    return uids


def _known_id(uid: int) -> bool:
    """Whether the host's user or group database names this id: it is somebody's, not ours."""
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            continue
    return False


def _slot_order() -> list[int]:
    start = os.getpid() % UID_SLOTS
    with _uses_lock:
        uses = dict(_uses)
    return sorted(range(UID_SLOTS), key=lambda n: (uses.get(n, 0), (n - start) % UID_SLOTS))


def _lock_slot(path: Path) -> int | None:
    """The slot's lock held (its fd), or None when another run holds it."""
    for _unused in range(UID_ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # we locked a file its last holder had just unlinked: try the new one
    return None


@dataclass
class Workspace:
    """The run's directory: `root` (the jail's mount point), `lab` (holding the proxy's socket,
    which the sandbox user owns) and the grader's own copy of the solution."""

    dir: Path
    uid: int

    @property
    def root(self) -> Path:
        return self.dir / "root"

    @property
    def lab(self) -> Path:
        return self.dir / "lab"

    @property
    def solution(self) -> Path:
        return self.dir / "solution.py"


@contextlib.contextmanager
def workspace(tag: str, uid: int, solution: bytes) -> Iterator[Workspace]:
    """The run's folder, under the run's claim (reaper.py): if the grader is killed, the next
    tcplab command removes it and the run's control group."""
    WORK.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(WORK, 0o700)
    ws = Workspace(WORK / tag, uid)
    with claim(tag):
        try:
            ws.dir.mkdir(mode=0o700)
            ws.root.mkdir(mode=0o755)
            ws.lab.mkdir(mode=0o711)  # the sandbox user may reach the socket in it, nothing else
            os.chmod(ws.lab, 0o711)
            ws.solution.write_bytes(solution)
            yield ws
        finally:
            shutil.rmtree(ws.dir, ignore_errors=True)


def run(
    zygote: Zygote, job: Job, limits: Limits, stop: threading.Event | None = None
) -> SandboxRun:
    """Run `job` in a fresh control group; kill it at the wall-clock limit, at the output cap, or
    when `stop` is set (the grader was interrupted: a sandbox error, not the student's)."""
    with claim(job.tag):
        group = Cgroup(job.tag)
        group.create(limits.memory, limits.pids)
        ran = SandboxRun(uid=job.uid)
        try:
            job.cgroup_procs = group.procs_files()
            _run_in(group, zygote, job, limits, ran, stop)
        finally:
            if not group.kill():
                ran.sandbox_error = ran.sandbox_error or f"processes of {group.name} would not die"
            ran.usage = group.usage()
            group.remove()
    return ran


def _run_in(
    group: Cgroup,
    zygote: Zygote,
    job: Job,
    limits: Limits,
    ran: SandboxRun,
    stop: threading.Event | None,
) -> None:
    pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, status
    began = time.monotonic()
    try:
        zygote.start(job.to_json(), [w for _, w in pipes])
    finally:
        for _unused, w in pipes:
            os.close(w)
    try:
        statuses = _collect(group, [r for r, _ in pipes], began + limits.wall_s, limits, ran, stop)
    finally:
        for r, _unused in pipes:
            os.close(r)
    ran.wall_s = time.monotonic() - began
    for event in statuses:
        if "error" in event:
            ran.sandbox_error = str(event["error"])
        if "exit" in event:
            ran.exit_code = int(event["exit"])
        if "signal" in event:
            ran.signal = int(event["signal"])


def _collect(
    group: Cgroup,
    fds: list[int],
    deadline: float,
    limits: Limits,
    ran: SandboxRun,
    stop: threading.Event | None,
) -> list[dict[str, Any]]:
    """Read stdout, stderr and the status pipe until all are closed (the jail is gone)."""
    kept = {fds[0]: bytearray(), fds[1]: bytearray(), fds[2]: bytearray()}
    sel = selectors.DefaultSelector()
    for fd in fds:
        sel.register(fd, selectors.EVENT_READ)
    open_fds = set(fds)
    killed: float | None = None
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0 and killed is None:
            ran.timed_out = True
            group.kill()
            killed = time.monotonic()
        if stop is not None and stop.is_set() and killed is None:
            ran.sandbox_error = "the grader was interrupted"
            group.kill()
            killed = time.monotonic()
        wait = min(max(left, 0.05), 0.25) if killed is None else 0.5
        for key, _unused in sel.select(timeout=wait):
            fd = int(key.fd)
            chunk = os.read(fd, 65536)
            if not chunk:
                sel.unregister(fd)
                open_fds.discard(fd)
                continue
            if fd == fds[2]:
                kept[fd] += chunk
                continue
            ran.output_bytes += len(chunk)
            room = limits.output - len(kept[fds[0]]) - len(kept[fds[1]])
            kept[fd] += chunk[: max(room, 0)]
            if ran.output_bytes > limits.output and killed is None:
                ran.output_capped = True
                group.kill()
                killed = time.monotonic()
        if killed is not None and time.monotonic() - killed > 5 and not group.pids():
            break  # everything is dead; a pipe still open now would be a leak, not output
    sel.close()
    ran.stdout = _excerpt(bytes(kept[fds[0]]), limits.excerpt)
    ran.stderr = _excerpt(bytes(kept[fds[1]]), limits.excerpt)
    events = []
    for line in bytes(kept[fds[2]]).splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return events


def _excerpt(data: bytes, limit: int) -> str:
    text = data.decode(errors="replace")
    if len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    left_out = _("[... {n} characters left out ...]").format(n=cut)
    return f"{text[:half]}\n{left_out}\n{text[-half:]}"
