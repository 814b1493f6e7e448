"""Which process is which: a pid alone names nobody for long (pids are reused), so tcplab identifies a
process it started, or one that builds or uses a testbed, by pid, start time and command line together,
and signals or trusts it only while all three still match.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class ProcessId:
    """A process as tcplab recorded it. `cmdline` is None only in records of older versions."""

    pid: int
    start_ticks: int
    cmdline: list[str] | None = None


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks, or None if it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def cmdline(pid: int) -> list[str] | None:
    """The process's argument vector, or None if it is gone (a kernel thread has an empty one)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read(1 << 16)
    except OSError:
        return None
    return [part.decode(errors="surrogateescape") for part in raw.split(b"\0")[:-1]]


def identify(pid: int) -> ProcessId | None:
    """The identity of a live process, as a record keeps it."""
    ticks, argv = start_ticks(pid), cmdline(pid)
    if ticks is None or argv is None:
        return None
    return ProcessId(pid, ticks, argv)


def alive(proc: ProcessId | None) -> bool:
    """The recorded process is still running: same pid, start time and (when recorded) command
    line. A record of an older version has no command line: pid and start time must do there."""
    if proc is None or start_ticks(proc.pid) != proc.start_ticks:
        return False
    return proc.cmdline is None or cmdline(proc.pid) == proc.cmdline


def describe(proc: ProcessId) -> str:
    """'pid N (first words of its command line)', for messages."""
    words = " ".join(proc.cmdline or [])
    words = "".join(c if c.isprintable() else "?" for c in words)
    return f"pid {proc.pid}" + (f" ({words[:60]})" if words else "")


def valid(proc: object) -> bool:
    """What a record may name as a process: positive pid, a start time, a list of strings."""
    if not isinstance(proc, ProcessId):
        return False
    ok_argv = proc.cmdline is None or (
        isinstance(proc.cmdline, list) and all(isinstance(a, str) for a in proc.cmdline)
    )
    return (
        type(proc.pid) is int
        and 0 < proc.pid < 1 << 22
        and type(proc.start_ticks) is int
        and proc.start_ticks >= 0
        and ok_argv
    )


def self_id() -> ProcessId:
    """This process, as a record names it (builder or owner of a testbed)."""
    me = identify(os.getpid())
    assert me is not None
    return me
