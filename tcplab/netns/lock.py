"""tcplab's lock and control paths, which only root can open.

Every tcplab command and netns_setup.sh decide what to build or remove while holding one flock, on
/run/tcplab/lock: a file of mode 0600 owned by root in a directory owned by root that nobody else
may write, so no other user can open it, let alone hold it. The holder writes its pid into it, so a
command that has to wait can say for whom. Waiting polls (LOCK_NB and short sleeps), so Ctrl-C
always works at once, even while signals are being held back for a step that must finish.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _

LOCK_NAME = "lock"
WAIT_NOTICE_AFTER = 1.0  # s: say what we are waiting for once a wait takes this long
_POLL = 0.02  # s between two tries
OWNER_UID = 0  # who must own tcplab's folders and records (tests of the checks may change it)

# Set by a command's interrupt handling so waits in worker threads end too (main thread: Ctrl-C).
cancelled = threading.Event()


def notify(text: str) -> None:
    """Where a wait is announced (the CLI's stderr); replaceable, e.g. by tests."""
    print(text, file=sys.stderr, flush=True)


def _run_dir() -> Path:
    from tcplab.netns import record  # (record imports this module)

    return record.run_path()


def _problem(path: Path, what: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        _("{path} {what}").format(path=path, what=what),
        _("check it, then remove it by hand (sudo rm -r {path}) and try again").format(path=path),
    )


def secure_dir(path: Path, mode: int = 0o755) -> int:
    """Open (making it if need be) a folder of tcplab's: a real directory, not a symlink, owned by
    root and writable by nobody else (a wrong mode is fixed). Returns an fd of it, to be closed."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    except OSError as exc:
        raise EnvironmentProblem(
            _("cannot make {path}: {strerror}").format(path=path, strerror=exc.strerror),
            _("run tcplab as root"),
        ) from exc
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _problem(path, _("is not a directory (a symlink or a file)")) from None
        raise EnvironmentProblem(
            _("cannot open {path}: {strerror}").format(path=path, strerror=exc.strerror),
            _("run tcplab as root"),
        ) from exc
    st = os.fstat(fd)
    if st.st_uid != OWNER_UID:
        os.close(fd)
        raise _problem(path, _("is owned by uid {st_uid}, not root").format(st_uid=st.st_uid))
    if stat.S_IMODE(st.st_mode) & 0o022:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~0o022)
    return fd


def ensure_run_dir() -> None:
    """/run/tcplab as it must be: root's, a real directory, writable by root alone."""
    run_dir = _run_dir()
    if not run_dir.parent.is_dir():
        run_dir.parent.mkdir(parents=True, exist_ok=True)
    os.close(secure_dir(run_dir))


def open_lock() -> int:
    """An fd of the lock file (made mode 0600 if missing), checked to be root's regular file."""
    run_dir = _run_dir()
    ensure_run_dir()
    path = run_dir / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _problem(path, _("is a symlink")) from None
        raise EnvironmentProblem(
            _("cannot open {path}: {strerror}").format(path=path, strerror=exc.strerror),
            _("run tcplab as root"),
        ) from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != OWNER_UID:
        os.close(fd)
        raise _problem(path, _("is not a regular file owned by root"))
    if stat.S_IMODE(st.st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return fd


def holder(fd: int) -> str:
    """The pid the lock's holder wrote into it ('?' if none)."""
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return "?"
    return text if text.isascii() and text.isdigit() else "?"


def acquire(fd: int, pending: Callable[[], bool] | None = None) -> None:
    """Take the lock on fd, polling. With `pending`, the wait is abortable: KeyboardInterrupt if
    `pending()` says a Ctrl-C or SIGTERM came meanwhile, or `cancelled` is set (a command stopping
    its worker threads). Without it (a rollback), it waits until it has the lock."""
    started = time.monotonic()
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            pass
        if pending is not None and (pending() or cancelled.is_set()):
            raise KeyboardInterrupt
        if not told and time.monotonic() - started >= WAIT_NOTICE_AFTER:
            notify(
                _("waiting for another tcplab command (pid {pid}) to finish").format(pid=holder(fd))
            )
            told = True
        time.sleep(_POLL)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


@contextmanager
def locked(pending: Callable[[], bool] | None = None) -> Iterator[None]:
    """Hold tcplab's lock (shared with netns_setup.sh) for the body."""
    fd = open_lock()
    try:
        acquire(fd, pending)
        yield
    finally:
        os.close(fd)  # releases the flock
