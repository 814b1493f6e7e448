"""Model segments to Ethernet frames and back.

A frame is packed here with struct (`to_frame`), byte for byte what scapy builds for
Ether()/IP(flags="DF")/TCP() (tests/unit/test_wire_encode.py holds the two equal): importing
scapy's layers costs a command more than everything else it does (0.2-0.5 s), so a handshake or a
probe never loads it. `to_packet` still gives the scapy packet, for whoever wants one; it imports
only the layers needed (not scapy.all), at its first call.
"""

from __future__ import annotations

import functools
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from tcplab.model.segment import Option, Segment
from tcplab.wire.decode import Decoder, ones_sum

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
    frame = encode(seg, ends, ip_id)
    if not bad_checksum:
        return frame
    at = _TCP_CHECK + (frame[14] & 0x0F) * 4
    good = int.from_bytes(frame[at : at + 2], "big")
    for bit in (1, 2):
        bad = frame[:at] + (good ^ bit).to_bytes(2, "big") + frame[at + 2 :]
        if not partial_checksum(bad):
            break
    return bad


_OPTION_KIND = {"eol": 0, "nop": 1, "mss": 2, "wscale": 3, "sackOK": 4, "sack": 5, "TS": 8}
_OPTION_FORMAT = {"mss": "!H", "wscale": "!B", "TS": "!II"}


def _option_bytes(opt: Option) -> bytes:
    """One option as scapy's TCPOptionsField writes it (kind, length, value)."""
    kind = _OPTION_KIND[opt.kind]
    if kind <= 1:
        return bytes((kind,))
    if opt.kind == "sackOK":
        body = b""
    elif opt.kind == "sack":
        edges = [n for block in opt.blocks() for n in block]
        body = struct.pack(f"!{len(edges)}I", *edges)
    else:
        value = opt.value if isinstance(opt.value, tuple) else (opt.value,)
        body = struct.pack(_OPTION_FORMAT[opt.kind], *value)
    return bytes((kind, 2 + len(body))) + body


def _checksum(data: bytes) -> int:
    return ~ones_sum(data) & 0xFFFF


def encode(seg: Segment, ends: Endpoints, ip_id: int = 1, ttl: int = 64) -> bytes:
    """The frame `bytes(to_packet(seg, ends, ip_id, ttl))` gives, packed without scapy;
    ValueError (as scapy raises) for a field that does not fit its bits."""
    try:
        return _encode(seg, ends, ip_id, ttl)
    except struct.error as exc:
        raise ValueError(f"cannot pack {seg.notation()}: {exc}") from exc


def _encode(seg: Segment, ends: Endpoints, ip_id: int, ttl: int) -> bytes:
    opts = b"".join(_option_bytes(o) for o in seg.options)
    opts += b"\x00" * (-len(opts) % 4)  # scapy pads with zeros (EOL) to whole words
    src, dst = socket.inet_aton(ends.src), socket.inet_aton(ends.dst)
    offset_flags = ((5 + len(opts) // 4) << 12) | int(seg.flags)
    tcp = struct.pack(
        "!HHIIHHHH", seg.sport, seg.dport, seg.seq, seg.ack, offset_flags, seg.window, 0, seg.urgptr
    )
    tcp += opts + seg.payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ip_id, 0x4000, ttl, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return _mac(ends.dst_mac) + _mac(ends.src_mac) + b"\x08\x00" + ip + tcp


@functools.lru_cache(maxsize=16)
def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


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
