"""When nothing more can come: a wait for the kernel's next segment ends as soon as it cannot send.

One theory for every wait tcplab cuts short: the handshake's silences (engine/handshake.py), the
scenario runner's silences and final drain (engine/runner.py) and lab check's wait for late segments
(exercise/quiet.py). A kernel segment on a connection can have only three causes (LINUX-TCP.md,
net/ipv4/tcp_timer.c, tcp_input.c):

1. the answer to a segment or call that came just before: Linux sends it from the softirq that
   received the segment (or from the call's own syscall). Either a short grace after the last
   crafted segment was captured and the last call returned covers it (GRACE, `settled`), or, where
   the crafting program is not tcplab's own (lab check), a marker sent from every CPU and captured
   at the kernel host proves every earlier frame went through (exercise/quiet.py,
   tcplab/wire/marker.py);
2. a delayed ACK for data, a SYN or a FIN it received: sock_diag does not show the delayed-ACK timer,
   so the connection must owe no ACK (the model's rule, tcplab.model.acks.ack_owed, on every
   crafted segment the kernel's TCP received with a valid checksum);
3. a timer of the connection's socket (retransmission, SYN+ACK retransmission of a request sock,
   zero-window probe, keepalive, TIME_WAIT's end): sock_diag reports each with the time left
   (idiag_timer, idiag_expires); each must be off or expire after the wait ends (with a margin for
   jiffies). Data in the write queue (unacknowledged or not yet sent: pacing, Nagle) counts as a
   cause too, whatever its timer says.

If none can fire before the wait ends, the rest of the wait would see nothing: it ends now. Every
check is conservative: where the proof does not hold the wait runs to its full length.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tcplab.engine.seen import Seen
from tcplab.model.acks import ack_owed
from tcplab.model.segment import Segment
from tcplab.model.state import State
from tcplab.netns.diag import SocketRow

GRACE = 0.01  # s after the last crafted segment's capture or app call: its answer has gone out
MARGIN = 0.02  # s: a timer must expire this much after the wait ends (jiffies, timer slack)
POLL = 0.01  # s between two looks at the socket table
IDLE = "off"  # sock_diag timer 0; 1-4 (on, keepalive, timewait, persist) send or end a socket


@dataclass(frozen=True)
class Conn:
    """A connection as the capture names it: the crafting host's port, the kernel host's port."""

    sport: int
    kport: int

    def crafted(self, seen: Seen) -> bool:
        seg = seen.segment
        return not seen.from_kernel and seg.sport == self.sport and seg.dport == self.kport

    def kernels(self, seen: Seen) -> bool:
        seg = seen.segment
        return seen.from_kernel and seg.sport == self.kport and seg.dport == self.sport


def owes_ack(conn: Conn, seen: Iterable[Seen]) -> bool:
    """Whether the kernel may still owe an ACK on the connection (a delayed ACK may be pending)."""
    return ack_owed(_exchange(s for s in seen if conn.crafted(s) or conn.kernels(s)))


def any_ack_owed(seen: Iterable[Seen]) -> bool:
    """Whether the kernel may still owe an ACK on any connection of the capture."""
    by_conn: dict[tuple[int, int], list[Seen]] = {}
    for s in seen:
        by_conn.setdefault(s.key, []).append(s)
    return any(ack_owed(_exchange(one)) for one in by_conn.values())


def _exchange(seen: Iterable[Seen]) -> list[tuple[bool, Segment]]:
    """The connection as the model's rule reads it: what the kernel sent, and the crafted segments
    its TCP received (delivered, with a valid checksum: it drops any other unseen)."""
    return [
        (s.from_kernel, s.segment) for s in seen if s.from_kernel or (s.delivered and s.checksum_ok)
    ]


def timers_quiet(rows: Iterable[SocketRow], left: float) -> bool:
    """Whether no socket of the connection can send within `left` seconds by its own timers:
    each timer off or expiring after that (with MARGIN), and nothing in its write queue."""
    return next_timer(rows, left) is None


def settled(last_crafted: float | None, last_call: float | None, now: float) -> bool:
    """Whether the last crafted segment's capture and the last app call are GRACE behind `now`
    (kernel time for the capture, wall time for the call: both time.time())."""
    return all(t is None or now - t >= GRACE for t in (last_crafted, last_call))


def next_timer(rows: Iterable[SocketRow], window: float) -> float | None:
    """Seconds until the first timer of `rows` that fires within `window` s (with MARGIN), or None;
    0.0 where data waits in a connection's write queue (it may go out at any moment). A listener's
    wqueue is its backlog's size (inet_diag), not data."""
    due: list[float] = []
    for row in rows:
        if row.wqueue > 0 and row.state is not State.LISTEN:
            return 0.0
        if row.timer != IDLE and row.expires_ms / 1000 - MARGIN < window:
            due.append(row.expires_ms / 1000 + MARGIN)
    return min(due) if due else None


def timers(rows: Iterable[SocketRow]) -> frozenset[tuple[int, int, int, str]]:
    """Which sockets have a timer (not when it expires: that moves with the clock)."""
    return frozenset((r.sport, r.dport, r.linux_state, r.timer) for r in rows if r.timer != IDLE)
