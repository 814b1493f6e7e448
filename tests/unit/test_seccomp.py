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
