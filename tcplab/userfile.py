"""Files named on the command line or in a scenario: read and written without following a symlink,
without blocking on a FIFO, and only when they are regular files.

Each check raises Refused with the reason in words ("PATH: a FIFO, not a regular file"); the caller
wraps it in the TcplabError that fits (a usage error for an option, a definition error for a
scenario). Output paths are checked before anything runs, so a run never ends with its results lost
to a path that cannot be written.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from tcplab.i18n import N_, _

_KINDS = {
    stat.S_IFREG: N_("a regular file"),
    stat.S_IFDIR: N_("a folder"),
    stat.S_IFIFO: N_("a FIFO"),
    stat.S_IFCHR: N_("a character device"),
    stat.S_IFBLK: N_("a block device"),
    stat.S_IFSOCK: N_("a socket"),
    stat.S_IFLNK: N_("a symbolic link"),
}
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Refused(ValueError):
    """A path that cannot be used, and why: str() is "PATH: REASON"."""

    def __init__(self, path: str, reason: str, missing: bool = False) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.missing = missing  # the path (or its folder) does not exist


def kind(mode: int) -> str:
    """'a FIFO', 'a folder', ... for a file's st_mode."""
    return _(_KINDS.get(stat.S_IFMT(mode), N_("not a regular file")))


def _refused(path: str, exc: OSError) -> Refused:
    if exc.errno == errno.ELOOP:
        return Refused(path, _("a symbolic link; name the file itself"))
    if exc.errno == errno.ENXIO:
        return Refused(path, _("a FIFO, not a regular file"))  # opened for writing, no reader
    if exc.errno == errno.EISDIR:
        return Refused(path, _("a folder, not a regular file"))
    return Refused(path, exc.strerror or str(exc), missing=exc.errno == errno.ENOENT)


def _regular(fd: int, path: str) -> os.stat_result:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Refused(path, _("{kind}, not a regular file").format(kind=kind(st.st_mode)))
    return st


def read_bytes(path: str, limit: int) -> bytes:
    """The whole file, at most `limit` bytes; Refused for a symlink, a FIFO, a folder, a device,
    a file that is too large or cannot be read."""
    try:
        fd = os.open(path, _READ)
    except OSError as exc:
        raise _refused(path, exc) from None
    st = _regular(fd, path)
    try:
        if st.st_size > limit:
            raise Refused(
                path,
                _("larger than {limit} ({size})").format(
                    limit=_size(limit), size=_size(st.st_size)
                ),
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise _refused(path, exc) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew after fstat
        raise Refused(path, _("larger than {limit}").format(limit=_size(limit)))
    return data


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return _("{n} bytes").format(n=n)


def check_writable(path: str) -> None:
    """Before anything runs: `path` can be written as a regular file (an existing regular file
    we can open for writing, or a new file in a folder we can create files in). Nothing is left
    behind and an existing file is not changed."""
    if not path:
        raise Refused("''", _("an empty path"))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _refused(path, exc) from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise Refused(path, _("{kind}, not a regular file").format(kind=kind(st.st_mode)))
        try:
            os.close(os.open(path, _WRITE))
        except OSError as exc:
            raise _refused(path, exc) from None
        return
    try:
        fd = os.open(path, _WRITE | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise _refused(path, exc) from None
    os.close(fd)
    os.unlink(path)


def check_folder(path: str) -> None:
    """Before anything runs: `path` is a folder in which files can be created."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _refused(path, exc) from None
    if not stat.S_ISDIR(st.st_mode):
        raise Refused(path, _("{value}, not a folder").format(value=kind(st.st_mode)))
    probe = os.path.join(path, f".tcplab-probe-{os.getpid()}")
    try:
        fd = os.open(probe, _WRITE | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise Refused(
            path, _("a folder where no file can be made ({strerror})").format(strerror=exc.strerror)
        ) from None
    os.close(fd)
    os.unlink(probe)


def write_output(path: str, data: bytes) -> None:
    """Write `data` to the file the user named (open_output's checks). Every failure, a path
    refused or a write that failed (a full disk), is Refused with its reason in words: the
    caller turns it into one error line."""
    try:
        with open_output(path) as f:
            f.write(data)
    except Refused:
        raise
    except OSError as exc:
        raise Refused(path, exc.strerror or str(exc)) from None


def open_output(path: str) -> BinaryIO:
    """`path` opened for writing (created 0644, or emptied), never through a symlink, never
    blocking on a FIFO; Refused for anything but a regular file."""
    try:
        fd = os.open(path, _WRITE | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _refused(path, exc) from None
    _regular(fd, path)
    os.set_blocking(fd, True)
    os.ftruncate(fd, 0)
    return os.fdopen(fd, "wb")
