"""The kernel's socket table through sock_diag (NETLINK_SOCK_DIAG), like `ss -tano`.

A netlink socket belongs to the namespace it was opened in, so `SocketTable(ns)` opens it inside the
kernel host and then reads that namespace's TCP sockets from anywhere. Request socks (TCP_NEW_SYN_RECV,
a server's half-open connection) and TIME_WAIT mini sockets are included, as `ss` shows them.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import asdict, dataclass
from typing import Any

from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _
from tcplab.model.state import LINUX_STATE_NUMBERS, LINUX_TIMER_NAMES, State
from tcplab.netns.enter import inside

ALL_STATES = 0xFFFFFFFF
# TCP_BOUND_INACTIVE (Linux 6.8+): asking for it makes the kernel also report sockets that are bound
# but neither listening nor connected (TCP_CLOSE), and to find them it walks the machine's whole
# bind table (bhash2, shared by every namespace): about 5 times the cost of the rest of a read of a
# lab's small table (170 us against 30 us here). Kernels before 6.8 ignore the bit.
BOUND_INACTIVE = 1 << 13


@dataclass(frozen=True)
class SocketRow:
    state: State
    linux_state: int
    src: str
    sport: int
    dst: str
    dport: int
    timer: str
    expires_ms: int
    retrans: int
    rqueue: int
    wqueue: int
    inode: int

    @property
    def ss_state(self) -> str:
        """The state as `ss` spells it (a request sock, TCP_NEW_SYN_RECV, too is SYN-RECV)."""
        return self.state.ss

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state.value
        out["ss_state"] = self.ss_state
        return out


# The dump request and the fixed head of each answer, from linux/inet_diag.h and linux/netlink.h.
# The lab checker reads the table every millisecond for as long as a solution runs, and decoding
# each message through pyroute2's generic parser cost about 1 ms of CPU per read; these two fixed
# structures decode in microseconds. Attributes after the head are not needed and are skipped.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
_NLMSGHDR = struct.Struct("=IHHII")
_REQ_V2 = struct.Struct("=BBBxI48x")  # family, protocol, ext, pad, states, a zero inet_diag_sockid
MADE_MAX = 4096  # rows kept to be given again (a few hundred KiB at most)
_MSG = struct.Struct("=BBBB HH 16s16s I8x IIIII")  # inet_diag_msg (the ports are big-endian)


def _parse_msg(data: bytes, offset: int) -> SocketRow | None:
    (family, num, timer, retrans, sport, dport, src, dst, _if, expires, rqueue, wqueue, _uid,
     inode) = _MSG.unpack_from(data, offset)  # fmt: skip
    state = LINUX_STATE_NUMBERS.get(num)
    if state is None or family != socket.AF_INET:
        return None
    return SocketRow(
        state=state,
        linux_state=num,
        src=socket.inet_ntoa(src[:4]),
        sport=socket.ntohs(sport),
        dst=socket.inet_ntoa(dst[:4]),
        dport=socket.ntohs(dport),
        timer=LINUX_TIMER_NAMES.get(timer, str(timer)),
        expires_ms=expires,
        retrans=retrans,
        rqueue=rqueue,
        wqueue=wqueue,
        inode=inode,
    )


class SocketTable:
    """An open sock_diag socket in one namespace; `rows()` reads its IPv4 TCP sockets.

    With `bound_inactive=False`, the rows leave out sockets that are bound but neither listening nor
    connected (state CLOSED, not in the connection table): a reader that reads every millisecond
    and for which such a socket counts as gone (the lab checker's sampler) saves most of each
    read's cost. Every other row is the same."""

    def __init__(self, ns: str, bound_inactive: bool = True) -> None:
        self.ns = ns
        self._seq = 0
        self._states = ALL_STATES if bound_inactive else ALL_STATES & ~BOUND_INACTIVE
        self._made: dict[bytes, SocketRow | None] = {}
        with inside(ns):
            try:
                self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
                self._sock.bind((0, 0))
            except OSError as exc:
                raise EnvironmentProblem(
                    _("cannot read the socket table of {ns}: {exc}").format(ns=ns, exc=exc),
                    _("run tcplab as root (sudo)"),
                ) from exc

    def rows(self) -> list[SocketRow]:
        self._seq += 1
        body = _REQ_V2.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, self._states)
        head = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(body),
            SOCK_DIAG_BY_FAMILY,
            NLM_F_REQUEST | NLM_F_DUMP,
            self._seq,
            0,
        )
        self._sock.send(head + body)
        out: list[SocketRow] = []
        while True:
            data = self._sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _unused, seq, _unused = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    return out
                if seq == self._seq:
                    if kind == NLMSG_DONE:
                        return out
                    if kind == NLMSG_ERROR:
                        err = -struct.unpack_from("=i", data, offset + _NLMSGHDR.size)[0]
                        raise OSError(err, f"sock_diag dump in {self.ns}: {os.strerror(err)}")
                    if kind == SOCK_DIAG_BY_FAMILY:
                        row = self._row(data, offset + _NLMSGHDR.size)
                        if row is not None:
                            out.append(row)
                offset += (length + 3) & ~3

    def _row(self, data: bytes, offset: int) -> SocketRow | None:
        """The row of the message at `offset`; a message read before gives the row made then
        (rows are frozen): from one read to the next most sockets are as they were."""
        raw = data[offset : offset + _MSG.size]
        try:
            return self._made[raw]
        except KeyError:
            pass
        if len(self._made) >= MADE_MAX:
            self._made.clear()
        row = self._made[raw] = _parse_msg(raw, 0)
        return row

    def find(
        self, local_port: int, peer: str | None = None, peer_port: int | None = None
    ) -> list[SocketRow]:
        """Sockets on this local port; with a peer, only that connection (listeners excluded)."""
        out = []
        for row in self.rows():
            if row.sport != local_port:
                continue
            if peer is not None and (row.dst != peer or row.dport != peer_port):
                continue
            out.append(row)
        return out

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> SocketTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
