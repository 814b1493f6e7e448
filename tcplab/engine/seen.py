"""What the kernel host's capture saw: one segment on the testbed's link, with who sent it and when.

Who sent it is known from where it was captured (the kernel host's own outgoing frames are the
kernel's), never from its IP source: a segment the student crafts with the kernel's address as its
source is the student's, marked `forged`. A segment Linux would find malformed carries what is wrong
(`malformed`), and `delivered` says whether the kernel's TCP received it at all (tcplab.wire.decode).

Pure data (no scapy, no sockets): the session (a driver) makes these from captured frames; reports,
checks and the lab kit read them, and can be tested from recorded ones without root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcplab.i18n import _
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
    malformed: tuple[str, ...] = ()  # what Linux finds wrong in it: "MSS option of length 2"
    forged: bool = False  # crafted with another host's address (the kernel's) as its source
    delivered: bool = True  # the kernel's TCP received it (not a lone IP fragment, a bad header)

    @property
    def kernel_side(self) -> bool:
        """Whether the segment claims the kernel's side of its connection (the kernel's, or
        forged as the kernel's): how its ports name the connection, never who sent it."""
        return self.from_kernel or self.forged

    @property
    def key(self) -> tuple[int, int]:
        """Its connection: (the crafting host's port, the kernel's port)."""
        seg = self.segment
        return (seg.dport, seg.sport) if self.kernel_side else (seg.sport, seg.dport)

    def marks(self) -> list[str]:
        """What the ladder shows beside the segment: forged, malformed, not delivered."""
        out = [_("forged as the kernel's")] if self.forged else []
        out += [_(m) for m in self.malformed]
        if not self.delivered:
            out.append(_("dropped before TCP"))
        return out
