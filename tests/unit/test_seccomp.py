"""The sandbox's system-call filter, built (not loaded) without root: every call it names is one
libseccomp knows on this machine, and the calls the issue names are all in it."""

from __future__ import annotations

import platform

import pytest

from tcplab.sandbox import seccomp

MUST_DENY = {
    "unshare", "setns", "add_key", "request_key", "keyctl", "mount", "umount2", "pivot_root",
    "chroot", "open_tree", "move_mount", "fsopen", "fsmount", "fsconfig", "fspick",
    "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open",
    "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "io_uring_setup",
    "io_uring_enter", "io_uring_register",
}  # fmt: skip
NOT_ON_X86_64 = {"umount", "stime"}  # older ABIs' names; nothing can make them here


def test_the_filter_builds_here() -> None:
    assert seccomp.available() is None


def test_every_call_the_issue_names_is_denied() -> None:
    assert set(seccomp.DENIED) >= MUST_DENY
    assert seccomp.ENOSYS_CALLS == ("clone3",)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64's system-call table")
def test_every_denied_call_is_known_to_libseccomp() -> None:
    lib = seccomp._library()
    unknown = {n for n in seccomp.DENIED if lib.seccomp_syscall_resolve_name(n.encode()) < 0}
    assert unknown == NOT_ON_X86_64


def test_a_libseccomp_that_cannot_name_an_essential_call_builds_no_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An older libseccomp (clone3 came in 2.4.2) would leave clone3 open: refuse instead."""
    assert {*seccomp.DENIED, *seccomp.ENOSYS_CALLS, "clone"} >= seccomp.ESSENTIAL
    real = seccomp._library

    def older() -> object:
        lib = real()
        resolve = lib.seccomp_syscall_resolve_name

        class Older:
            def __getattr__(self, name: str) -> object:
                return getattr(lib, name)

            @staticmethod
            def seccomp_syscall_resolve_name(name: bytes) -> int:
                return seccomp._NR_SCMP_ERROR if name == b"clone3" else int(resolve(name))

        return Older()

    monkeypatch.setattr(seccomp, "_library", older)
    with pytest.raises(OSError, match="does not know clone3"):
        seccomp.Filter()
