"""Entering a named network namespace for a while (setns(2) on the calling thread).

A socket keeps the namespace it was created in, so a process can open a capture socket in the kernel
host, a sending socket in the crafting host, and go home: that is how one tcplab process watches both.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tcplab import linux
from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _

NETNS_DIR = "/run/netns"


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def open_netns(name: str) -> int:
    """An fd for the named namespace; EnvironmentProblem if it does not exist or cannot be opened."""
    try:
        return os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise EnvironmentProblem(
            _("network namespace {name!r} does not exist").format(name=name),
            _("run 'sudo tcplab setup' to build the testbed"),
        ) from None
    except PermissionError as exc:
        raise EnvironmentProblem(
            _("cannot open network namespace {name!r}: {strerror}").format(
                name=name, strerror=exc.strerror
            ),
            _("run tcplab as root (sudo)"),
        ) from exc


@contextmanager
def inside(name: str) -> Iterator[None]:
    """Run the body in network namespace `name`, then return to where the thread was."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = open_netns(name)
    try:
        try:
            linux.setns_net(target)
        except OSError as exc:
            hint = _("run tcplab as root (sudo)") if exc.errno == errno.EPERM else ""
            raise EnvironmentProblem(
                _("cannot enter network namespace {name!r}: {strerror}").format(
                    name=name, strerror=os.strerror(exc.errno or 0)
                ),
                hint,
            ) from exc
        try:
            yield
        finally:
            linux.setns_net(home)
    finally:
        os.close(target)
        os.close(home)


def netns_inode(name: str) -> int | None:
    """The namespace's inode (its identity), or None if no such name is mounted."""
    try:
        return os.stat(netns_path(name)).st_ino
    except OSError:
        return None


# A namespace made with this sysctl set in the namespace it is made from gets its own small table
# of TCP connections instead of sharing the host's (sized for all of its memory). Reading a testbed's
# socket table (sock_diag) walks the whole table, so this makes each read ~20 times cheaper: the
# lab checker reads it every millisecond. (Linux 6.1+; older kernels share the host's table.)
CHILD_EHASH_ENTRIES = 1024


def create_netns(name: str, own_table: bool = False) -> None:
    """Create a named namespace as `ip netns add` does, without forking (safe in threads):
    unshare the calling thread's network namespace, bind it to /run/netns/NAME, return home.

    With `own_table`, the new namespace is made from a short-lived one of its own, where
    tcp_child_ehash_entries is set, so only this namespace gets its own connection table."""
    from pyroute2 import netns

    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            if own_table:
                # the parent: gone as soon as this thread leaves it
                linux.unshare(linux.CLONE_NEWNET)
                with contextlib.suppress(OSError):
                    Path("/proc/sys/net/ipv4/tcp_child_ehash_entries").write_text(
                        f"{CHILD_EHASH_ENTRIES}\n"
                    )
            linux.unshare(linux.CLONE_NEWNET)
            netns.attach(name, "thread-self")
        finally:
            linux.setns_net(home)
    finally:
        os.close(home)


SO_NETNS_COOKIE = 71  # Linux 5.14+: a 64-bit id the kernel never reuses while it runs


def netns_cookie(name: str) -> int | None:
    """The namespace's cookie (unlike its inode, never reused), or None where unsupported."""
    import socket

    try:
        with inside(name):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except EnvironmentProblem:
        return None
    try:
        return int.from_bytes(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8), "little")
    except OSError:
        return None
    finally:
        sock.close()
