"""When nothing more can come: a silence or the final drain ends as soon as the kernel cannot send.

Theory of operation. Between two steps the runner does nothing: no crafted segment, no application
call. In that time a kernel segment on a connection can have only three causes (LINUX-TCP.md,
net/ipv4/tcp_timer.c, tcp_input.c):

1. the answer to a segment or call that came just before: Linux sends it from the softirq that
   received the segment (or from the call's own syscall), right after the capture's tap saw the
   segment; a short grace after the last crafted segment was captured and the last call returned
   covers it;
2. a delayed ACK for data, a SYN or a FIN it received: sock_diag does not show the delayed-ACK timer,
   so the connection must owe no ACK: the kernel's latest ACK covers every crafted segment that
   occupies sequence space (one its TCP received, with a valid checksum);
3. a timer of the connection's socket (retransmission, SYN+ACK retransmission of a request sock,
   zero-window probe, keepalive, TIME_WAIT): sock_diag reports each with the time left
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
from tcplab.model.flags import Flags
from tcplab.model.seqnum import seq_gt
from tcplab.netns.diag import SocketRow

GRACE = 0.01  # s after the last crafted segment's capture or app call: its answer has gone out
MARGIN = 0.02  # s: a timer must expire this much after the wait ends (jiffies, timer slack)
POLL = 0.01  # s between two looks at the socket table


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
    """Whether the kernel may still owe an ACK on the connection (a delayed ACK may be pending):
    a crafted segment its TCP received occupies sequence space beyond the kernel's latest ACK."""
    needs: list[int] = []
    acked: int | None = None
    for s in seen:
        seg = s.segment
        if conn.kernels(s) and Flags.ACK in seg.flags:
            acked = seg.ack
        elif conn.crafted(s) and _occupies(s):
            needs.append(seg.end_seq)
    return any(acked is None or seq_gt(end, acked) for end in needs)


def _occupies(s: Seen) -> bool:
    """A crafted segment the kernel's TCP took in and may have to ACK (a RST never is)."""
    seg = s.segment
    return (
        seg.seg_len > 0
        and Flags.RST not in seg.flags
        and s.delivered
        and s.checksum_ok
        and not s.forged
    )


def timers_quiet(rows: Iterable[SocketRow], left: float) -> bool:
    """Whether no socket of the connection can send within `left` seconds by its own timers:
    each timer off or expiring after that (with MARGIN), and nothing in its write queue."""
    for row in rows:
        if row.wqueue > 0:  # data not acknowledged or not sent yet (pacing has no timer to read)
            return False
        if row.timer != "off" and row.expires_ms / 1000 < left + MARGIN:
            return False
    return True


def settled(last_crafted: float | None, last_call: float | None, now: float) -> bool:
    """Whether the last crafted segment's capture and the last app call are GRACE behind `now`
    (kernel time for the capture, wall time for the call: both time.time())."""
    return all(t is None or now - t >= GRACE for t in (last_crafted, last_call))
