"""The few Linux calls tcplab needs that Python 3.10/3.11 does not offer (setns, unshare, mount,
pivot_root, capset, prctl, keyctl), through ctypes: the one wrapper of libc, below both the lab
(netns) and the sandbox. Each raises OSError with the call's errno and a message naming the call.
libc is looked up at the first call, not at import."""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

CAP_NET_RAW = 13
_CAP_VERSION_3 = 0x20080522
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "armv7l": 218, "ppc64le": 203}
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "armv7l": 311, "ppc64le": 271}
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_CLEAR = 7
KEY_SPEC_USER_KEYRING = -4
KEY_SPEC_USER_SESSION_KEYRING = -5


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, loaded at the first call (never when this module loads)."""
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns_net(fd: int) -> None:
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
        return
    _check(_libc().setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)), "setns")


def unshare(flags: int) -> None:
    _check(_libc().unshare(ctypes.c_int(flags)), "unshare")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    result = _libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    _check(result, f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc().umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(0, f"pivot_root: unknown system call number on {platform.machine()}")
    _check(
        _libc().syscall(ctypes.c_long(number), new_root.encode(), put_old.encode()), "pivot_root"
    )


def keyctl(operation: int, arg2: int = 0) -> int:
    """keyctl(2) with one argument (a keyring id, or 0 for NULL); the call's result."""
    number = _SYS_KEYCTL.get(platform.machine())
    if number is None:
        raise OSError(0, f"keyctl: unknown system call number on {platform.machine()}")
    result = int(
        _libc().syscall(ctypes.c_long(number), ctypes.c_long(operation), ctypes.c_long(arg2))
    )
    if result < 0:
        _check(result, f"keyctl {operation}")
    return result


def fresh_keyrings() -> None:
    """A new, empty session keyring, and this uid's user keyrings emptied: nothing a process of
    the same uid left in the kernel's keyring can be read (kernels without keys are fine)."""
    try:
        keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
        keyctl(KEYCTL_CLEAR, KEY_SPEC_USER_KEYRING)
        keyctl(KEYCTL_CLEAR, KEY_SPEC_USER_SESSION_KEYRING)
    except OSError as exc:
        if exc.errno not in (errno.ENOSYS, errno.EOPNOTSUPP):
            raise


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent (the thread that forked it) ends; if `parent` has
    already gone (the process was orphaned before this call), die now."""
    prctl(PR_SET_PDEATHSIG, 9)
    if os.getppid() != parent:
        os._exit(137)


def set_cmdline(argv: list[str]) -> None:
    """Make /proc/self/cmdline (what ps and pgrep show) read `argv`, as far as the process's own
    argument area has room (start it with room to spare): the area is rewritten in place, as
    setproctitle does (Python keeps its own copy of argv; moving the area with prctl PR_SET_MM
    would need CAP_SYS_RESOURCE)."""
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end: fields 48 and 49
    room = end - start
    raw = b"".join(a.encode() + b"\0" for a in argv)[: room - 1]
    ctypes.memmove(start, raw.ljust(room, b"\0"), room)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc().sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    result = _libc().prctl(
        ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )  # fmt: skip
    _check(result, f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def capset(caps: int) -> None:
    """Set effective, permitted and inheritable to exactly `caps` (a bit mask)."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        word = (caps >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = data[i].inheritable = word
    _check(_libc().capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40


def drop_to(uid: int, gid: int, keep: int = CAP_NET_RAW) -> None:
    """Become `uid`/`gid` with no groups, keeping only capability `keep` (also ambient, so a
    program it runs keeps it), with no way to gain privileges again."""
    for cap in range(last_cap() + 1):
        if cap != keep:
            prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    capset(1 << keep)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, keep)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
