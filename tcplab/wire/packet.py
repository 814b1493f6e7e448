"""Model segments to Ethernet frames and back, through scapy.

Only the scapy layers needed are imported (not scapy.all), and only at the first segment, which keeps
a command's start-up short; importing this module loads no scapy and changes nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from tcplab.model.segment import Option, Segment
from tcplab.wire.decode import Decoder

_TO_SCAPY = {
    "mss": "MSS",
    "wscale": "WScale",
    "sackOK": "SAckOK",
    "TS": "Timestamp",
    "nop": "NOP",
    "eol": "EOL",
    "sack": "SAck",
}


def quiet_scapy() -> None:
    """Before scapy is first imported: its logger shows errors only. Its warnings (about interfaces
    and routes as it loads, about the odd segments a student crafts) are not tcplab's to show."""
    logging.getLogger("scapy").setLevel(logging.ERROR)


class _Scapy(NamedTuple):
    IP: Any
    TCP: Any
    Ether: Any
    Raw: Any
    checksum: Callable[[bytes], int]


@functools.cache
def _scapy() -> _Scapy:
    """scapy's layers that tcplab uses, imported at the first call."""
    quiet_scapy()
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import checksum

    return _Scapy(IP, TCP, Ether, Raw, checksum)


@dataclass(frozen=True)
class Endpoints:
    """Addresses of one direction of the testbed's link."""

    src: str
    dst: str
    src_mac: str
    dst_mac: str


def _scapy_option(opt: Option) -> tuple[str, Any]:
    name = _TO_SCAPY[opt.kind]
    if opt.kind == "sackOK":
        return (name, b"")
    if opt.kind == "sack":
        assert isinstance(opt.value, tuple)
        flat: list[int] = []
        for lo, hi in opt.value:  # type: ignore[misc]
            flat += [lo, hi]
        return (name, tuple(flat))
    return (name, opt.value)


def to_packet(seg: Segment, ends: Endpoints, ip_id: int = 1, ttl: int = 64) -> Any:
    """The scapy packet for a segment on this path."""
    scapy = _scapy()
    tcp = scapy.TCP(
        sport=seg.sport,
        dport=seg.dport,
        seq=seg.seq,
        ack=seg.ack,
        flags=int(seg.flags),
        window=seg.window,
        urgptr=seg.urgptr,
        options=[_scapy_option(o) for o in seg.options],
    )
    pkt = (
        scapy.Ether(src=ends.src_mac, dst=ends.dst_mac)
        / scapy.IP(src=ends.src, dst=ends.dst, id=ip_id, ttl=ttl, flags="DF")
        / tcp
    )
    if seg.payload:
        pkt = pkt / scapy.Raw(seg.payload)
    return pkt


_TCP_CHECK = 14 + 16  # the TCP checksum's offset: Ethernet header, (the IP header), 16 into TCP


def to_frame(seg: Segment, ends: Endpoints, ip_id: int = 1, bad_checksum: bool = False) -> bytes:
    """The Ethernet frame; with `bad_checksum`, its TCP checksum is off by one bit (never the other
    spelling of a valid sum: 0x0000 and 0xffff are the same in ones' complement), and never the
    pseudo-header's partial sum (which would read as a checksum left to offload, about 1 in 65536
    segments with the lowest bit flipped: then the next bit is flipped instead)."""
    frame = bytes(to_packet(seg, ends, ip_id))
    if not bad_checksum:
        return frame
    at = _TCP_CHECK + (frame[14] & 0x0F) * 4
    good = int.from_bytes(frame[at : at + 2], "big")
    for bit in (1, 2):
        bad = frame[:at] + (good ^ bit).to_bytes(2, "big") + frame[at + 2 :]
        if not partial_checksum(bad):
            break
    return bad


def partial_checksum(frame: bytes) -> bool:
    """Whether the frame's TCP checksum is a partial one: the pseudo-header's sum only, left for
    the device to finish (CHECKSUM_PARTIAL, what a veth with tx checksum offload on carries)."""
    got = Decoder().decode(frame)
    return got is not None and got.checksum_partial


def parse_frame(frame: bytes) -> tuple[str, str, Segment, bool] | None:
    """(src, dst, segment, checksum_ok) for an Ethernet/IPv4/TCP frame, None for anything else
    (tcplab.wire.decode: a malformed segment is read as Linux reads it, never raised)."""
    got = Decoder().decode(frame)
    return None if got is None else (got.src, got.dst, got.segment, got.checksum_ok)
