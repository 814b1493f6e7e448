"""Captured frames to segments, total: any bytes a student sends become a segment or nothing, never
an exception.

Theory of operation: a frame is read as Linux's receive path reads it (ip_rcv_core, ip_defrag,
tcp_v4_rcv, tcp_parse_options in net/ipv4/), and what Linux would find wrong is written down rather
than raised: each problem is a short text ("MSS option of length 2", "NS flag set", "IP fragment"),
and `delivered` says whether the kernel's TCP gets the segment at all. Where Linux skips a part
(a malformed option, the rest of the options after a silly length, the NS and reserved bits) the
segment keeps what Linux keeps and is delivered; where Linux drops the packet (a bad IP header,
a data offset beyond the segment, a lone fragment) it is shown, but not delivered. Fragments are
reassembled as Linux does (ip_defrag: an overlap discards the datagram).

Seen on 6.18 (a crafted SYN each, answered or not; tests/integration/test_wire_live.py): answered
with SYN+ACK despite an MSS option of length 2 or 0, a cut-short timestamps option, the NS bit, the
IP "evil" bit, NOP IP options; not answered with a data offset of 2 or 15 words, a source-route or
badly sized IP option, a bad IP header checksum, an IP length that cuts the TCP header, or a lone
first fragment (MF); a SYN in three 8-byte fragments is reassembled and answered.

Pure Python (struct, no scapy): the same code reads the live capture and a saved recording.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from socket import inet_ntoa

from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment

_FLAGS = [Flags(i) for i in range(256)]
_ETH, _IPV4, _TCP = 14, b"\x08\x00", 6
_MF, _OFFSET = 0x2000, 0x1FFF
_OPTION_NAMES = {2: "MSS", 3: "window scale", 4: "SACK-permitted", 5: "SACK", 8: "timestamps"}
_OPTION_SIZE = {2: 4, 3: 3, 4: 2, 8: 10}
_SOURCE_ROUTE = (131, 137)  # LSRR, SSRR: dropped with accept_source_route=0 (ip_rcv_options)
MAX_PENDING = 64  # datagrams being reassembled at once; the oldest is forgotten beyond


@dataclass(frozen=True)
class Decoded:
    """One segment as the kernel host's capture saw it, and what Linux would make of it."""

    src: str
    dst: str
    src_mac: bytes
    segment: Segment
    checksum_ok: bool
    checksum_partial: bool = False  # offloaded: the pseudo-header's sum only
    malformed: tuple[str, ...] = ()
    delivered: bool = True  # the kernel's TCP receives it


def ones_sum(data: bytes) -> int:
    """The ones' complement sum of 16-bit words (RFC 1071), folded to 16 bits."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _tcp_checksum(src: bytes, dst: bytes, tcp: bytes) -> tuple[bool, bool]:
    """(valid, partial): a partial one holds only the pseudo-header's sum (CHECKSUM_PARTIAL)."""
    pseudo = src + dst + b"\x00\x06" + len(tcp).to_bytes(2, "big")
    if ones_sum(pseudo + tcp) == 0xFFFF:
        return True, False
    stored = int.from_bytes(tcp[16:18], "big") if len(tcp) >= 18 else -1
    return False, stored == ones_sum(pseudo)


def parse_options(raw: bytes, problems: list[str]) -> tuple[Option, ...]:
    """TCP options as tcp_parse_options reads them: a wrong length skips that option, a length
    below 2 or past the end stops the reading; trailing EOL padding is not an option."""
    out: list[Option] = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:  # EOL: Linux reads no further
            break
        if kind == 1:
            out.append(Option("nop"))
            i += 1
            continue
        name = _OPTION_NAMES.get(kind, f"kind {kind}")
        if i + 1 >= len(raw):
            problems.append(f"{name} option cut short (no length byte)")
            break
        size = raw[i + 1]
        if size < 2:
            problems.append(f"{name} option of length {size} (Linux reads no further options)")
            break
        if size > len(raw) - i:
            problems.append(f"{name} option of length {size} cut short at {len(raw) - i} bytes")
            break
        opt = _option(kind, raw[i + 2 : i + size])
        if opt is None and kind in _OPTION_NAMES:
            problems.append(f"{name} option of length {size}")
        elif opt is not None:
            out.append(opt)
        i += size
    return tuple(out)


def _option(kind: int, body: bytes) -> Option | None:
    """The model option for a known kind of the right length; None otherwise (Linux skips it)."""
    if _OPTION_SIZE.get(kind, 2 + len(body)) != 2 + len(body):
        return None
    if kind == 2:
        return Option("mss", int.from_bytes(body, "big"))
    if kind == 3:
        return Option("wscale", body[0])
    if kind == 4:
        return Option("sackOK")
    if kind == 8:
        val, ecr = struct.unpack("!II", body)
        return Option("TS", (val, ecr))
    if kind == 5 and body and len(body) % 8 == 0:
        edges = struct.unpack(f"!{len(body) // 4}I", body)
        return Option("sack", tuple(zip(edges[::2], edges[1::2], strict=True)))
    return None


def _segment(tcp: bytes, problems: list[str]) -> tuple[Segment, bool]:
    """The segment in TCP bytes (at least 4: the ports), and whether Linux's TCP takes it."""
    delivered = True
    cut = len(tcp) < 20
    if cut:  # the fields past the end read as zeros; only the ports are sure
        problems.append(f"TCP header cut short: {len(tcp)} of 20 bytes")
        tcp, delivered = tcp + bytes(20 - len(tcp)), False
    sport, dport, seq, ack, off, bits, window, _sum, urgptr = struct.unpack("!HHIIBBHHH", tcp[:20])
    doff = 20 if cut else (off >> 4) * 4
    if off & 0x01:
        problems.append("NS flag set (Linux ignores it)")
    if off & 0x0E:
        problems.append("reserved header bits set (Linux ignores them)")
    if doff < 20:
        problems.append(f"data offset {doff} bytes, below a TCP header's 20")
        doff, delivered = 20, False
    elif doff > len(tcp):
        problems.append(f"data offset {doff} bytes, beyond the segment's {len(tcp)}")
        doff, delivered = len(tcp), False
    options = parse_options(tcp[20:doff], problems)
    seg = Segment(sport, dport, _FLAGS[bits], seq, ack, window, options, tcp[doff:], urgptr)
    return seg, delivered


def _ip_problems(ip: bytes, ihl: int, total: int) -> tuple[list[str], bool]:
    """What Linux's ip_rcv_core and ip_rcv_options find wrong, and whether it keeps the packet."""
    problems: list[str] = []
    keep = True
    if ip[0] >> 4 != 4:
        problems.append(f"IP version {ip[0] >> 4} in an IPv4 frame")
        keep = False
    if ihl < 20:
        problems.append(f"IP header length {ihl} bytes, below 20")
        return problems, False
    if total < ihl or total > len(ip):
        problems.append(f"IP total length {total}, but {len(ip)} bytes came")
        keep = False
    if len(ip) >= ihl and ones_sum(ip[:ihl]) != 0xFFFF:
        problems.append("bad IP header checksum")
        keep = False
    if ihl > 20:
        problems.append(f"IP options ({ihl - 20} bytes)")
        keep = _ip_options_ok(ip[20:ihl], problems) and keep
    return problems, keep


def _ip_options_ok(raw: bytes, problems: list[str]) -> bool:
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            return True
        if kind == 1:
            i += 1
            continue
        size = raw[i + 1] if i + 1 < len(raw) else 0
        if size < 2 or size > len(raw) - i:
            problems.append(f"IP option {kind} of length {size}: Linux drops the packet")
            return False
        if kind in _SOURCE_ROUTE:
            problems.append("IP source route option: Linux drops the packet")
            return False
        i += size
    return True


@dataclass
class _Datagram:
    pieces: dict[int, bytes] = field(default_factory=dict)  # fragment offset (bytes) -> data
    end: int | None = None  # the datagram's length, once its last fragment came
    header: bytes = b""  # the first fragment's IP header
    broken: bool = False  # overlapping fragments: Linux discards the whole datagram


class Decoder:
    """Reads captured frames in order; keeps fragments until their datagram is whole."""

    def __init__(self) -> None:
        self.pending: dict[tuple[bytes, int], _Datagram] = {}

    def decode(self, frame: bytes) -> Decoded | None:
        """The segment in one Ethernet frame; None for a frame that is not IPv4 carrying TCP or
        holds no TCP ports (a later fragment: the whole datagram is returned when it is)."""
        try:
            return self._decode(frame)
        except Exception:  # noqa: BLE001  # a bug here must never cost a student their run
            return None

    def _decode(self, frame: bytes) -> Decoded | None:
        if len(frame) < _ETH + 20 or frame[12:14] != _IPV4 or frame[_ETH + 9] != _TCP:
            return None
        ip = frame[_ETH:]
        ihl, total = (ip[0] & 0x0F) * 4, int.from_bytes(ip[2:4], "big")
        problems, keep = _ip_problems(ip, ihl, total)
        end = total if ihl <= total <= len(ip) else len(ip)
        frag = int.from_bytes(ip[6:8], "big")
        if frag & (_MF | _OFFSET) and keep:
            return self._fragment(frame, ip[:ihl], ip[ihl:end], frag, problems)
        if frag & _OFFSET:
            return None  # a later fragment of a datagram Linux drops: no TCP header in it
        if frag & _MF:
            problems.append("IP fragment")
        return _decoded(frame, ip, max(ihl, 20), end, problems, keep)

    def _fragment(
        self, frame: bytes, header: bytes, data: bytes, frag: int, problems: list[str]
    ) -> Decoded | None:
        at, more = (frag & _OFFSET) * 8, bool(frag & _MF)
        key = (header[12:20], int.from_bytes(header[4:6], "big"))
        dgram = self.pending.pop(key, None) or _Datagram()
        if len(self.pending) >= MAX_PENDING:
            self.pending.pop(next(iter(self.pending)))
        dgram.broken |= any(at < o + len(d) and o < at + len(data) for o, d in dgram.pieces.items())
        dgram.pieces[at] = data
        if at == 0:
            dgram.header = header
        if not more:
            dgram.end = at + len(data)
        whole = _whole(dgram)
        if whole is None:
            self.pending[key] = dgram
            if at != 0 or len(data) < 20:
                return None  # no whole TCP header to show: the pcap keeps it
            got = _decoded(frame, header + data, len(header), len(header) + len(data), [], False,
                           checked=False)  # fmt: skip
            what = "IP fragment (the kernel waits for the rest)"
            return None if got is None else replace(got, malformed=(*problems, what))
        n = len(dgram.pieces)
        ip = dgram.header + whole
        return _decoded(frame, ip, len(dgram.header), len(ip),
                        [*problems, f"reassembled from {n} IP fragments"], True)  # fmt: skip


def _whole(dgram: _Datagram) -> bytes | None:
    """The datagram's payload when every byte came (and nothing overlapped), else None."""
    if dgram.end is None or dgram.broken or not dgram.header:
        return None
    out, at = b"", 0
    for offset in sorted(dgram.pieces):
        if offset != at:
            return None
        out += dgram.pieces[offset]
        at += len(dgram.pieces[offset])
    return out if at == dgram.end else None


def _decoded(
    frame: bytes,
    ip: bytes,
    ihl: int,
    end: int,
    problems: list[str],
    keep: bool,
    checked: bool = True,
) -> Decoded | None:
    tcp = ip[ihl:end]
    if len(tcp) < 4:
        return None
    seg, delivered = _segment(tcp, problems)
    ok, partial = _tcp_checksum(ip[12:16], ip[16:20], tcp) if checked else (True, False)
    src, dst = inet_ntoa(ip[12:16]), inet_ntoa(ip[16:20])
    return Decoded(src, dst, frame[6:12], seg, ok, partial, tuple(problems), keep and delivered)
