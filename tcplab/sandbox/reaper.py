"""What a killed run leaves behind, found and removed: control groups (and the processes still in
them), sandbox folders and sandbox uid locks.

Theory of operation. Every sandboxed run (a graded solution, a `lab check` solution) first takes a
*claim*: a file WORK/TAG.lock on which its process holds an flock for the run's whole life. The run's
control group `tcplab-TAG` and folder WORK/TAG are made after the claim and removed before it is
released, so a claim outlives them. The kernel drops an flock when its holder dies, however it dies
(SIGKILL included), so "can the lock be taken?" is an exact test of "is the run over?", with no pid
that could have been reused. The claim file appears already locked (made under a temporary name,
locked, then linked into place), so no one ever sees a live run's claim unlocked.

Groups and folders with no claim file were made by a tcplab without claims; they are removed only
when that is safe: an empty group or a folder left for over a minute, a group whose processes no
longer have a tcplab process as their parent (the grader that started them is gone).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _, ngettext
from tcplab.sandbox import cgroup

WORK = Path("/run/tcplab/sandbox")
UIDS = "uids"  # WORK/uids/N: the lock of sandbox uid UID_BASE + N
GRACE_S = 60.0  # an unclaimed group or folder younger than this may belong to a run being set up
TAG = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
ZYGOTE = b"tcplab.sandbox.zygote"  # in the command line of a live grader's zygote

_held: dict[str, tuple[int, int]] = {}  # tag -> (locked fd, how many claims of it are open)
_held_lock = threading.Lock()


def _lock_path(tag: str) -> Path:
    return WORK / f"{tag}.lock"


@contextlib.contextmanager
def claim(tag: str) -> Iterator[None]:
    """Mark run `tag` as alive for as long as the block lasts (re-entrant within a process)."""
    if not TAG.match(tag):
        raise ValueError(f"bad run tag {tag!r}")
    with _held_lock:
        fd, count = _held.get(tag) or (_acquire(tag), 0)
        _held[tag] = (fd, count + 1)
    try:
        yield
    finally:
        with _held_lock:
            fd, count = _held.pop(tag)
            if count > 1:
                _held[tag] = (fd, count - 1)
            else:
                _release(tag, fd)


def _acquire(tag: str) -> int:
    WORK.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = WORK / f".{tag}.{os.getpid()}.tmp"
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise EnvironmentProblem(
            _("cannot create the claim of run {tag} in {WORK}: {strerror}").format(
                tag=tag, WORK=WORK, strerror=exc.strerror
            ),
            _("tcplab needs root and a writable /run"),
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else can hold it
        os.write(fd, f"{os.getpid()}\n".encode())  # for people; the lock is what counts
        os.link(tmp, _lock_path(tag))
    except OSError as exc:
        os.close(fd)
        raise EnvironmentProblem(
            _("cannot claim run {tag}: {strerror}").format(tag=tag, strerror=exc.strerror),
            _("run the command again"),
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return fd


def _release(tag: str, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(_lock_path(tag))  # still holding the lock: nobody can take it in between
    os.close(fd)


def take_if_free(path: Path) -> int | None:
    """Lock `path` (a regular file of root's, not a symlink) if no live process holds it and it
    is still linked at `path`; the locked fd, or None."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != 0:
            raise BlockingIOError
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path, follow_symlinks=False).st_ino != info.st_ino:
            raise BlockingIOError  # released and unlinked meanwhile
    except OSError:
        os.close(fd)
        return None
    return fd


def reap_stale() -> list[str]:
    """Remove what runs that are over left behind; one short line per thing removed. Never
    touches a live run (another tcplab running now). Without root there is nothing to do."""
    if os.geteuid() != 0 or (not WORK.is_dir() and not cgroup.names()):
        return []
    done = _dead_claims()
    done += _unclaimed_groups()
    done += _unclaimed_folders()
    done += _free_uid_locks()
    return done


def _entries() -> list[os.DirEntry[str]]:
    try:
        with os.scandir(WORK) as it:
            return list(it)
    except OSError:
        return []


def _dead_claims() -> list[str]:
    done: list[str] = []
    for entry in _entries():
        tag = entry.name.removesuffix(".lock")
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            _remove_old_file(entry)
            continue
        if not entry.name.endswith(".lock") or not TAG.match(tag):
            continue
        fd = take_if_free(Path(entry.path))
        if fd is None:
            continue  # alive
        try:
            done += _remove_run(tag)
        finally:
            _release(tag, fd)
    return done


def _remove_old_file(entry: os.DirEntry[str]) -> None:
    with contextlib.suppress(OSError):
        if time.time() - entry.stat(follow_symlinks=False).st_mtime > GRACE_S:
            os.unlink(entry.path)


def _remove_run(tag: str) -> list[str]:
    done = []
    group = cgroup.Cgroup(tag)
    if group.exists():
        done.append(_remove_group(group))
    folder = WORK / tag
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)
        done.append(
            _("removed the sandbox folder {folder} of a run that was killed").format(folder=folder)
        )
    return done


def _remove_group(group: cgroup.Cgroup) -> str:
    n = len(group.pids())
    gone = group.remove()
    if gone:
        text = ngettext(
            "removed the control group {name} and its {n} process of a run that was killed",
            "removed the control group {name} and its {n} processes of a run that was killed",
            n,
        )
        if not n:
            text = _("removed the control group {name} of a run that was killed")
    else:
        text = ngettext(
            "could not remove the control group {name} and its {n} process of a run that was killed",
            "could not remove the control group {name} and its {n} processes of a run that was killed",
            n,
        )
        if not n:
            text = _("could not remove the control group {name} of a run that was killed")
    return text.format(name=group.name, n=n)


def _unclaimed_groups() -> list[str]:
    done = []
    for name in cgroup.names():
        tag = name.removeprefix(cgroup.PREFIX)
        if not TAG.match(tag) or os.path.lexists(_lock_path(tag)):
            continue  # a claimed run: alive, or reaped by _dead_claims
        group = cgroup.Cgroup(tag)
        pids = group.pids()
        if pids and _parented(pids):
            continue
        if not pids and group.age() < GRACE_S:
            continue
        done.append(_remove_group(group))
    return done


def _parented(pids: list[int]) -> bool:
    """True when a process of the group has a tcplab zygote outside the group as its parent
    (a live grader's); orphans are reparented to init or a subreaper."""
    inside = set(pids)
    for pid in pids:
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
            if ppid in inside:
                continue
            if ZYGOTE in Path(f"/proc/{ppid}/cmdline").read_bytes().split(b"\0"):
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def _unclaimed_folders() -> list[str]:
    done = []
    for entry in _entries():
        tag = entry.name
        if tag == UIDS or not TAG.match(tag) or os.path.lexists(_lock_path(tag)):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or time.time() - info.st_mtime < GRACE_S:
            continue
        if cgroup.Cgroup(tag).exists():
            continue  # a run of a tcplab without claims, still running
        shutil.rmtree(entry.path, ignore_errors=True)
        done.append(
            _("removed the sandbox folder {path} of a run that was killed").format(path=entry.path)
        )
    return done


def _free_uid_locks() -> list[str]:
    folder = WORK / UIDS
    try:
        names = [n for n in os.listdir(folder) if n.isascii() and n.isdigit()]
    except OSError:
        return []
    removed = 0
    for name in names:
        fd = take_if_free(folder / name)
        if fd is None:
            continue
        with contextlib.suppress(OSError):
            os.unlink(folder / name)
            removed += 1
        os.close(fd)
    if not removed:
        return []
    text = ngettext(
        "removed {n} unused sandbox uid lock", "removed {n} unused sandbox uid locks", removed
    )
    return [text.format(n=removed)]
