"""Kernel-filtered capture and raw sending on the testbed's link (AF_PACKET).

The capture socket is armed before anything is sent: it is opened with protocol 0 (so it queues
nothing), gets its classic-BPF filter (IPv4 TCP between the testbed's two addresses), and only then is bound
to the interface for all protocols. No frame can slip in unfiltered, and no reply, however fast, arrives
before the socket listens. Every frame carries the kernel's receive timestamp (SO_TIMESTAMPNS).

Sending uses a second AF_PACKET socket. Frames sent that way do not pass netfilter, so the crafting
host's rule against its own kernel's RSTs never stops a RST the student crafts.
"""

from __future__ import annotations

import ctypes
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from tcplab.errors import EnvironmentProblem

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4

# BPF opcodes (linux/bpf_common.h)
_LD_H_ABS, _LD_B_ABS, _LD_W_ABS, _JEQ_K, _RET_K = 0x28, 0x30, 0x20, 0x15, 0x06


def tcp_between(a: str, b: str) -> list[tuple[int, int, int, int]]:
    """A classic-BPF program: Ethernet, IPv4, TCP, and addresses a<->b in either direction."""
    ia = int.from_bytes(socket.inet_aton(a), "big")
    ib = int.from_bytes(socket.inet_aton(b), "big")
    return [
        (_LD_H_ABS, 0, 0, 12),  # 0 ethertype
        (_JEQ_K, 0, 10, 0x0800),  # 1 IPv4, else drop
        (_LD_B_ABS, 0, 0, 23),  # 2 ip protocol
        (_JEQ_K, 0, 8, 6),  # 3 TCP, else drop
        (_LD_W_ABS, 0, 0, 26),  # 4 source address
        (_JEQ_K, 0, 2, ia),  # 5 src == a ? -> 6 : 8
        (_LD_W_ABS, 0, 0, 30),  # 6 destination address
        (_JEQ_K, 3, 4, ib),  # 7 dst == b ? accept : drop
        (_JEQ_K, 0, 3, ib),  # 8 src == b ? -> 9 : drop
        (_LD_W_ABS, 0, 0, 30),  # 9 destination address
        (_JEQ_K, 0, 1, ia),  # 10 dst == a ? accept : drop
        (_RET_K, 0, 0, 0x40000),  # 11 accept
        (_RET_K, 0, 0, 0),  # 12 drop
    ]


def _attach(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    raw = b"".join(struct.pack("HBBI", *ins) for ins in program)
    buf = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


@dataclass(frozen=True)
class Frame:
    data: bytes
    time: float  # kernel timestamp, seconds since the epoch
    outgoing: bool  # sent by the capturing host's own stack
    seen: int = field(default=0, compare=False)  # perf_counter_ns when read


class Capture:
    """A filtered capture on `ifname`, opened in the current network namespace."""

    def __init__(self, ifname: str, a: str, b: str) -> None:
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError as exc:
            raise EnvironmentProblem(
                "capturing needs root (CAP_NET_RAW)", "run tcplab as root (sudo)"
            ) from exc
        _attach(self.sock, tcp_between(a, b))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        try:
            self.sock.bind((ifname, ETH_P_ALL))
        except OSError as exc:
            self.sock.close()
            raise EnvironmentProblem(
                f"cannot capture on {ifname}: {exc.strerror}", "run 'sudo tcplab status'"
            ) from exc
        self.sock.setblocking(False)

    def read(self, timeout: float) -> Frame | None:
        """The next frame, waiting at most `timeout` seconds; None when none came."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(65535, 64)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                select.select([self.sock], [], [], left)
                continue
            seen = time.perf_counter_ns()
            stamp = time.time()
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", value[:16])
                    stamp = sec + nsec / 1e9
            return Frame(data, stamp, addr[2] == PACKET_OUTGOING, seen)

    def close(self) -> None:
        self.sock.close()


class Sender:
    """Sends whole Ethernet frames on `ifname` (opened in the current network namespace)."""

    def __init__(self, ifname: str) -> None:
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            self.sock.bind((ifname, 0))
        except PermissionError as exc:
            raise EnvironmentProblem(
                "sending crafted segments needs root (CAP_NET_RAW)", "run tcplab as root (sudo)"
            ) from exc

    def send(self, frame: bytes) -> int:
        """Send one frame; returns perf_counter_ns just before it left."""
        t = time.perf_counter_ns()
        self.sock.send(frame)
        return t

    def close(self) -> None:
        self.sock.close()
