"""Model segments to Ethernet frames and back, through scapy.

Only the scapy layers needed are imported (not scapy.all), and only at the first segment, which keeps
a command's start-up short; importing this module loads no scapy and changes nothing.
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from socket import inet_ntoa
from typing import Any, NamedTuple

from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment

_TO_SCAPY = {
    "mss": "MSS",
    "wscale": "WScale",
    "sackOK": "SAckOK",
    "TS": "Timestamp",
    "nop": "NOP",
    "eol": "EOL",
    "sack": "SAck",
}
_FROM_SCAPY = {v: k for k, v in _TO_SCAPY.items()}


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


def _model_option(name: str, value: Any) -> Option | None:
    kind = _FROM_SCAPY.get(name)
    if kind is None:
        return None
    if kind in ("sackOK", "nop", "eol"):
        return Option(kind)
    if kind == "sack":
        pairs = tuple((value[i], value[i + 1]) for i in range(0, len(value) - 1, 2))
        return Option("sack", pairs)
    if kind == "TS":
        return Option("TS", (int(value[0]), int(value[1])))
    return Option(kind, int(value))


def _option_or_none(name: str, value: Any) -> Option | None:
    """The model option, or None for one whose length or value is malformed (a crafted MSS of
    length 3, a TS of length 5): like Linux's tcp_parse_options, such an option is skipped and
    the segment still counts."""
    try:
        return _model_option(name, value)
    except (ValueError, TypeError, IndexError, OverflowError, struct.error):
        return None


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
    spelling of a valid sum: 0x0000 and 0xffff are the same in ones' complement)."""
    frame = bytes(to_packet(seg, ends, ip_id))
    if not bad_checksum:
        return frame
    at = _TCP_CHECK + (frame[14] & 0x0F) * 4
    good = int.from_bytes(frame[at : at + 2], "big")
    return frame[:at] + (good ^ 1).to_bytes(2, "big") + frame[at + 2 :]


def partial_checksum(frame: bytes) -> bool:
    """Whether the frame's TCP checksum is a partial one: the pseudo-header's sum only, left for
    the device to finish (CHECKSUM_PARTIAL, what a veth with tx checksum offload on carries)."""
    ihl = (frame[14] & 0x0F) * 4 if len(frame) > 14 else 0
    total = int.from_bytes(frame[16:18], "big")
    at = _TCP_CHECK + ihl
    if len(frame) < at + 2 or not 0 <= total - ihl < 1 << 16:
        return False
    field = int.from_bytes(frame[at : at + 2], "big")
    pseudo = frame[26:34] + b"\x00\x06" + (total - ihl).to_bytes(2, "big")
    return field == (~_scapy().checksum(pseudo)) & 0xFFFF


def from_packet(pkt: Any) -> Segment:
    """The model segment in a scapy packet that has a TCP layer."""
    tcp = pkt[_scapy().TCP]
    opts = [o for o in (_option_or_none(n, v) for n, v in tcp.options) if o is not None]
    while opts and opts[-1].kind == "eol":  # padding to a 32-bit boundary, not an option
        opts.pop()
    options = tuple(opts)
    return Segment(
        sport=tcp.sport,
        dport=tcp.dport,
        flags=Flags.from_bits(int(tcp.flags)),  # ValueError for the NS bit: not a segment
        seq=tcp.seq,
        ack=tcp.ack,
        window=tcp.window,
        options=options,
        payload=bytes(tcp.payload),
        urgptr=tcp.urgptr,
    )


def parse_frame(frame: bytes) -> tuple[str, str, Segment, bool] | None:
    """(src, dst, segment, checksum_ok) for an Ethernet/IPv4/TCP frame, None for anything else,
    including a frame too malformed to be a segment (a crafted IP length shorter than its header,
    a TCP header cut short): what a student sends can never stop an observation."""
    try:
        return _parse_frame(frame)
    except Exception:  # noqa: BLE001  # scapy's decoders raise many kinds; none is ours to show
        return None


def _parse_frame(frame: bytes) -> tuple[str, str, Segment, bool] | None:
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    tcp_bytes = frame[14 + ihl : 14 + total]
    src, dst = inet_ntoa(frame[26:30]), inet_ntoa(frame[30:34])
    pseudo = frame[26:34] + b"\x00\x06" + len(tcp_bytes).to_bytes(2, "big")
    scapy = _scapy()
    ok = scapy.checksum(pseudo + tcp_bytes) == 0
    return src, dst, from_packet(scapy.TCP(tcp_bytes)), ok
