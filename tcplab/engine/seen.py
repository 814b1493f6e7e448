"""What the kernel host's capture saw: one segment on the testbed's link, with who sent it and when.

Pure data (no scapy, no sockets): the session (a driver) makes these from captured frames; reports,
checks and the lab kit read them, and can be tested from recorded ones without root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcplab.model.segment import Segment


@dataclass(frozen=True)
class Seen:
    """A segment on the testbed's link: who sent it, when (kernel time), and whether its checksum holds."""

    segment: Segment
    src: str
    dst: str
    time: float
    from_kernel: bool
    checksum_ok: bool
    seen_ns: int = field(default=0, compare=False)
    checksum_partial: bool = field(default=False, compare=False)  # offloaded: pseudo-header only
