"""Captured frames to Seen: who sent each segment, from where it was captured.

The capture runs on the kernel host's interface, so a frame the kernel host sent is marked outgoing
by the kernel (PACKET_OUTGOING): that, not the IP source, makes a segment the kernel's. A frame that
came in from the crafting host is the student's, whatever its addresses say; with the kernel's
address as its source it is marked forged. The live session and a saved recording both go through
here, so they read the same frames the same way.
"""

from __future__ import annotations

from tcplab.engine.seen import Seen
from tcplab.wire.capture import Frame
from tcplab.wire.decode import Decoder


class Intake:
    """Turns frames, in capture order, into Seen (reassembling IP fragments across frames)."""

    def __init__(self, kernel_addr: str) -> None:
        self.kernel_addr = kernel_addr
        self.decoder = Decoder()

    def seen(self, frame: Frame) -> Seen | None:
        """The segment in a frame; None for a frame that holds none (yet: a fragment)."""
        got = self.decoder.decode(frame.data)
        if got is None:
            return None
        forged = not frame.outgoing and got.src == self.kernel_addr
        return Seen(
            got.segment,
            got.src,
            got.dst,
            frame.time,
            frame.outgoing,
            got.checksum_ok,
            frame.seen,
            got.checksum_partial,
            got.malformed,
            forged,
            got.delivered and not forged,  # a martian source: Linux drops its own address
        )


def parse(frames: list[Frame], kernel_addr: str) -> list[Seen]:
    """Every segment in the frames, in order."""
    intake = Intake(kernel_addr)
    return [s for s in map(intake.seen, frames) if s is not None]
