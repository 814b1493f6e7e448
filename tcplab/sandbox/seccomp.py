"""The system-call filter of a student's process: a deny list loaded with libseccomp, inherited by
everything the solution starts.

Why a deny list: a solution is Python with scapy, whose system calls are many and change with each
release; what it must never do is short and stable. Denied calls fail with EPERM, so a solution that
tries one sees an ordinary error (and the hostile corpus can print "denied"), except clone3, which
fails with ENOSYS: its flags live in memory a filter cannot read, and glibc falls back to clone on
ENOSYS, whose flags the filter does check. A call from another ABI (i386 `int 0x80`, x32) kills the
process: libseccomp's architecture check.

Why libseccomp: it is what systemd, Docker, Chromium's helpers and apt's own sandbox use (apt
depends on libseccomp2, so every Debian has it); it knows every architecture's system-call numbers
and writes the architecture check. It is called through ctypes (no new Python dependency).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno

from tcplab import linux

# Calls a solution never needs: namespaces, the kernel keyring, mounts, tracing other processes,
# loading code into the kernel, the machine's clock, swap and accounting, raw port I/O, io_uring.
DENIED = (
    "unshare", "setns",
    "add_key", "request_key", "keyctl",
    "mount", "umount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
    "fsmount", "fsconfig", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
    "bpf", "perf_event_open", "userfaultfd", "fanotify_init", "name_to_handle_at",
    "open_by_handle_at", "lookup_dcookie",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "uselib", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
    "syslog", "iopl", "ioperm", "vhangup", "_sysctl", "sysfs", "nfsservctl",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
    "sethostname", "setdomainname", "move_pages", "migrate_pages",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
)  # fmt: skip
ENOSYS_CALLS = ("clone3",)
NAMESPACE_FLAGS = (
    linux.CLONE_NEWNS, linux.CLONE_NEWCGROUP, linux.CLONE_NEWUTS, linux.CLONE_NEWIPC,
    linux.CLONE_NEWUSER, linux.CLONE_NEWPID, linux.CLONE_NEWNET,
)  # fmt: skip
PERSONALITY_QUERY = 0xFFFFFFFF  # personality(0xffffffff) reads the persona; every change is denied

_ACT_ALLOW = 0x7FFF0000
_ACT_KILL_PROCESS = 0x80000000
_ATTR_ACT_BADARCH = 2
_CMP_NE = 1
_CMP_MASKED_EQ = 7
_NR_SCMP_ERROR = -1


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise OSError(errno.ENOENT, f"libseccomp is missing ({exc})") from exc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp),
    ]  # fmt: skip
    return lib


# Calls the sandbox's promises rest on (no new namespaces, no keyrings, no mounts): a libseccomp
# too old to name one of them (clone3 came in 2.4.2, the mount API in 2.5.0) refuses to build a
# filter, and the zygote then refuses to start, rather than sandbox with a hole in it.
ESSENTIAL = frozenset(
    {"unshare", "setns", "clone", "clone3", "add_key", "request_key", "keyctl", "mount",
     "pivot_root", "open_tree", "move_mount", "fsopen", "fsmount", "ptrace", "bpf",
     "io_uring_setup"}
)  # fmt: skip


class Filter:
    """The deny list as a libseccomp context; `load` puts it on the calling thread for good."""

    def __init__(self) -> None:
        self.lib = _library()
        self.ctx = self.lib.seccomp_init(_ACT_ALLOW)
        if not self.ctx:
            raise OSError(errno.ENOMEM, "seccomp_init failed")
        try:
            self._rules()
        except BaseException:
            self.release()
            raise

    def _check(self, result: int, what: str) -> None:
        if result < 0:
            raise OSError(-result, f"{what}: {errno.errorcode.get(-result, -result)}")

    def _add(self, action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        number = self.lib.seccomp_syscall_resolve_name(name.encode())
        if number == _NR_SCMP_ERROR:
            if name in ESSENTIAL:  # the kernel may have it although this libseccomp does not
                raise OSError(
                    errno.ENOSYS,
                    f"this libseccomp does not know {name}: the filter would let it by",
                )
            return  # an older or rarer call: libseccomp knows every call its kernels had
        array = (_ArgCmp * max(1, len(cmps)))(*(_ArgCmp(*c) for c in cmps))
        self._check(
            self.lib.seccomp_rule_add_array(self.ctx, action, number, len(cmps), array),
            f"seccomp rule for {name}",
        )

    def _rules(self) -> None:
        self._check(
            self.lib.seccomp_attr_set(self.ctx, _ATTR_ACT_BADARCH, _ACT_KILL_PROCESS),
            "seccomp attribute",
        )
        eperm = _errno_action(errno.EPERM)
        for name in DENIED:
            self._add(eperm, name)
        for name in ENOSYS_CALLS:
            self._add(_errno_action(errno.ENOSYS), name)
        for flag in NAMESPACE_FLAGS:  # clone's flags are its first argument on x86_64 and arm64
            self._add(eperm, "clone", (0, _CMP_MASKED_EQ, flag, flag))
        self._add(eperm, "personality", (0, _CMP_NE, PERSONALITY_QUERY, 0))

    def load(self) -> None:
        self._check(self.lib.seccomp_load(self.ctx), "seccomp_load")

    def release(self) -> None:
        if self.ctx:
            self.lib.seccomp_release(self.ctx)
            self.ctx = None


def install() -> None:
    """Deny the calls above to this process and everything it starts (no_new_privs must be set
    already, or the process must hold CAP_SYS_ADMIN)."""
    f = Filter()
    try:
        f.load()
    finally:
        f.release()


def available() -> str | None:
    """None when the filter can be built here; otherwise why not."""
    try:
        Filter().release()
    except OSError as exc:
        return str(exc.strerror or exc)
    return None
