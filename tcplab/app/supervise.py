"""Supervising the kernel-side application: starting it, waiting until it is ready, asking it how it
is, stopping it.

Theory of operation: the testbed's builder (tcplab.netns.topology) enters the kernel host's namespace
and calls `Launch.spawn`, which starts `python -m tcplab.app.server` with the write end of a pipe
the application writes "ready" to once its control socket listens, and, for an ephemeral testbed this
process owns, a pidfd of this process: readable once this process is gone, however it ended
(SIGKILL too), so the application exits with it. (PR_SET_PDEATHSIG would fire when the *thread*
that started it ends, and testbeds are built from worker threads.)

The builder records the process by pid, start time and command line, and judges from that record
whether a pid is still the application (tcplab.netns.proc): `stop` signals only while that judgement
holds. This module imports nothing of tcplab.netns; the builder hands it the namespace (by being
inside it) and the judgement (a function).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tcplab import child_env
from tcplab.app.client import AppClient
from tcplab.app.protocol import ListSockets
from tcplab.text import printable

MODULE = "tcplab.app.server"
LOG = "app.log"  # in the testbed's record folder, beside the control socket
STOP_WAIT = 3.0  # s: SIGTERM, then SIGKILL after this
_children: dict[int, subprocess.Popen[bytes]] = {}  # applications this process started, by pid


def argv(control: str, listen_port: int, ready_fd: int, owner_fd: int | None) -> list[str]:
    """The application's command line (recorded: a process is signalled only if it matches).

    -S: no site module. The application imports only the standard library and tcplab, which
    child_env puts first on PYTHONPATH (a checkout, an editable or a wheel install alike), so
    site's work (site-packages, .pth files, an editable install's import finder: about a quarter
    of the start) buys it nothing."""
    cmd = [sys.executable, "-S", "-m", MODULE, "--control", control]
    cmd += ["--listen", str(listen_port), "--ready-fd", str(ready_fd)]
    return cmd + (["--owner-fd", str(owner_fd)] if owner_fd is not None else [])


def looks_like_app(cmd: list[str] | None, control: str) -> bool:
    """A record of an older version has no command line: the application is recognised by its
    module and its control socket, which is in the testbed's own folder."""
    if not cmd:
        return False
    marks = ["-m", MODULE, "--control", control]
    return any(cmd[i : i + 4] == marks for i in range(len(cmd)))


def _owner_fd() -> int | None:
    """A pidfd of this process, for the application to watch (None where pidfds are missing)."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(os.getpid())
    except OSError:
        return None


class Launch:
    """One start of the application: the ready pipe and the owner's pidfd, all closed on exit."""

    def __init__(self, control: str, listen_port: int, watch_owner: bool) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.owner_fd = _owner_fd() if watch_owner else None
        self.argv = argv(control, listen_port, self.write_fd, self.owner_fd)

    def spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        """Start the application in the namespace this thread is in; its output goes to `log`.
        The child's ends of the pipe and the pidfd are closed here once it has them."""
        keep = tuple(fd for fd in (self.write_fd, self.owner_fd) if fd is not None)
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=keep,
                start_new_session=True,
                cwd="/",
                env=child_env(),
            )
        finally:
            self._close_child_ends()
        _children[proc.pid] = proc
        return proc

    def ready(self, timeout: float) -> bool:
        """Whether the application said "ready" within `timeout` s (its control socket listens)."""
        try:
            ready, _, _ = select.select([self.read_fd], [], [], timeout)
            line = os.read(self.read_fd, 64) if ready else b""
        finally:
            self.close()
        return line.strip() == b"ready"

    def _close_child_ends(self) -> None:
        for fd in (self.write_fd, self.owner_fd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.write_fd, self.owner_fd = -1, None

    def close(self) -> None:
        self._close_child_ends()
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def __enter__(self) -> Launch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_log(path: Path) -> IO[bytes]:
    """The application's log, appended to (never through a symbolic link)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(path, flags, 0o600), "ab")


def log_tail(dfd: int) -> str:
    """The last line the application logged (in the folder `dfd`), printable, for a message."""
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(LOG, flags, dir_fd=dfd)
        with os.fdopen(fd, "rb") as f:
            f.seek(max(0, os.fstat(fd).st_size - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return printable((lines[-1:] or ["no output"])[0], one_line=True)


def child_running(pid: int) -> bool:
    """The pid is an application this process started and it has not exited (perhaps still
    between fork and exec, when its command line is not yet the application's)."""
    child = _children.get(pid)
    return child is not None and child.poll() is None


def _reap(pid: int) -> None:
    """Collect the exit status if the application is this process's child (setup in-process)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, still_ours: Callable[[], bool]) -> None:
    """SIGTERM, then SIGKILL, the application `pid`, only while `still_ours()` says it is the
    recorded one (pid, start time and command line)."""
    if not still_ours():
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline:
        _reap(pid)
        if not still_ours():
            break
        time.sleep(0.005)
    else:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    _reap(pid)
    _children.pop(pid, None)


def sockets(control: str, timeout: float = 2.0) -> list[dict[str, Any]]:
    """The application's sockets as `tcplab status --json` shows them; TcplabError if it does
    not answer."""
    with AppClient(control, timeout=timeout) as cli:
        return [s.to_wire() for s in cli.call(ListSockets()).sockets]
