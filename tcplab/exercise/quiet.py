"""After a solution ends: read what the kernel still sends, and stop as soon as nothing more can come.

The rule the checks were written against is Session.drain(QUIET): keep reading until the link has
been quiet for QUIET seconds (a late SYN+ACK retransmission or a delayed ACK still counts). This
reads exactly that, and ends the wait early only when the kernel itself shows that no segment can
come before the quiet window would close:

1. Nothing is still on its way. Every frame the solution sent is on its CPU's backlog until that
   CPU's softirq hands it to the kernel host's stack, which answers at once (and captures the
   answer) in the same pass: a marker sent from every CPU and captured at the kernel host proves
   that all earlier frames went through (tcplab/wire/marker.py). Two calls to the application
   (it serves calls one at a time, in turns) prove that no call a solution's process made before
   it ended is still running.
2. No timer fires within the window and no write queue holds data (tcplab.engine.quiet.next_timer):
   retransmission, SYN+ACK retransmission (request socks), zero-window probe and keepalive send;
   TIME_WAIT's (and an orphaned FIN_WAIT_2's) sends nothing but ends the socket, a change the
   socket table's sampler would have seen: every timer due within the window is waited for.
3. No delayed ACK is owed on any connection (tcplab.engine.quiet.any_ack_owed: the model's rule).

Anything else (a run that timed out, a CPU that cannot be marked, an unacknowledged segment) keeps
the whole quiet window, as before. The table is read twice, a few milliseconds apart, with nothing
captured in between, so a timer caught between firing and sending is not missed.
"""

from __future__ import annotations

import contextlib
import enum
import os
import select
import threading
import time
from collections.abc import Iterator

from tcplab.app.protocol import Ping
from tcplab.engine.quiet import any_ack_owed, next_timer, timers
from tcplab.engine.session import Session
from tcplab.errors import TcplabError
from tcplab.netns.enter import inside
from tcplab.netns.record import CRAFTING_MAC, IFNAME, KERNEL_MAC
from tcplab.wire.marker import Markers

QUIET = 0.3  # s: the link must have been quiet this long (what the labs' checks expect)
RECHECK = 0.003  # s between the two reads of the table that must agree
MARKER_WAIT = 1.0  # s: a marker not captured by then: keep the whole window


class Drained(enum.Enum):
    EARLY = "nothing more can come"
    WINDOW = "the link was quiet for the whole window"


def drain_after(s: Session, quiet: float = QUIET, ended_cleanly: bool = True) -> Drained:
    """Read what the kernel sends after the solution ended until the link has been quiet for
    `quiet` s, or until nothing more can come within that window (see the module's docstring)."""
    last = time.monotonic()
    closing: list[threading.Thread] = []  # closing a packet socket waits for an RCU grace period
    try:
        proven = ended_cleanly and _flushed(s, closing)
        return _read_until_quiet(s, quiet, last, proven)
    finally:
        for t in closing:
            t.join()


def _read_until_quiet(s: Session, quiet: float, last: float, proven: bool) -> Drained:
    agreed: frozenset[tuple[int, int, int, str]] | None = None
    while True:
        if _read_ready(s):
            last, agreed = time.monotonic(), None
        left = last + quiet - time.monotonic()
        if left <= 0:
            return Drained.WINDOW
        wait = left
        if proven:
            rows = s.table.rows()
            fires = next_timer(rows, left)
            if fires is None and not any_ack_owed(s.seen):
                now_timers = timers(rows)
                if agreed == now_timers and not _read_ready(s):
                    return Drained.EARLY
                agreed, wait = now_timers, RECHECK
            else:
                agreed, wait = None, min(left, max(fires, RECHECK) if fires is not None else left)
        _wait_frame(s, wait)


def _flushed(s: Session, closing: list[threading.Thread]) -> bool:
    """Everything the solution sent has been through the kernel host, and the application has
    finished every call made before: see the module's docstring (1). The marker capture is
    closed by a thread added to `closing`."""
    try:
        s.app.call(Ping())
        s.app.call(Ping())
        with inside(s.spec.kernel):
            markers = Markers(IFNAME)
    except (OSError, TcplabError):  # an application gone or not answering: the whole window
        return False
    try:
        return all(_marked(s, markers, cpu) for cpu in range(os.cpu_count() or 1))
    finally:
        closing.append(threading.Thread(target=markers.close))
        closing[-1].start()


def _marked(s: Session, markers: Markers, cpu: int) -> bool:
    try:
        with _on_cpu(cpu):
            s.sender.send(markers.frame(CRAFTING_MAC, KERNEL_MAC, cpu))
    except OSError:
        return False
    return markers.wait(cpu, MARKER_WAIT)


@contextlib.contextmanager
def _on_cpu(cpu: int) -> Iterator[None]:
    """Run the body on `cpu` only (this thread; the others keep theirs)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _read_ready(s: Session) -> bool:
    """Read every frame already captured; whether there was any."""
    before = len(s.frames)
    s.drain(0)
    return len(s.frames) > before


def _wait_frame(s: Session, seconds: float) -> None:
    select.select([s.capture.sock], [], [], max(seconds, 0.0))
