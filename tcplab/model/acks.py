"""Whether a TCP may still owe an acknowledgment (RFC 9293 §3.8.6.3; Linux's delayed ACK).

A TCP acknowledges every segment that takes sequence space (data, SYN, FIN). It may do so at once or
from its delayed-ACK timer, up to 200 ms later (Linux: tcp_event_data_recv arms ICSK_ACK_TIMER;
the timer is not among those sock_diag reports). Until a segment it sent acknowledges all of them, a
segment may still come.
"""

from __future__ import annotations

from collections.abc import Iterable

from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.seqnum import seq_ge, seq_gt


def ack_owed(exchange: Iterable[tuple[bool, Segment]]) -> bool:
    """Whether the TCP may owe an ACK on one connection. `exchange` is the connection's segments in
    the order they were seen, each with True where the TCP sent it and False where it received it
    (received segments only: one lost on the way owes nothing)."""
    owed: int | None = None  # the end of the furthest received segment not yet acknowledged
    for sent, seg in exchange:
        if sent:
            if owed is not None and Flags.ACK in seg.flags and seq_ge(seg.ack, owed):
                owed = None
        elif seg.seg_len > 0 and Flags.RST not in seg.flags:
            end = seg.end_seq
            owed = end if owed is None or seq_gt(end, owed) else owed
    return owed is not None
