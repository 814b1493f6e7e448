"""Reading links, addresses and routes over rtnetlink with the standard library only.

pyroute2's IPRoute costs a command 0.3-0.5 s to import (its package loads NDB, IPDB, asyncio, ssl;
even pyroute2.iproute alone pulls in asyncio and every traffic-control message), which is most of
what a `tcplab handshake` would spend on the testbed's health check. That check only reads: this
module answers the same four questions in the same shape (`IPRoute().link_lookup`, `get_links`,
`get_addr`, `get_routes`, messages read with `.get(name)` and `[field]`), so a caller can use
either; tests/unit/test_rtnl.py holds the answers equal to pyroute2's. Changing links stays
pyroute2's job.

Messages and attributes: include/uapi/linux/{netlink,rtnetlink,if_link,if_addr}.h.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 18, 22, 26
RT_TABLE_MAIN = 254
IFF_UP = 0x1
_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_RTATTR = struct.Struct("=HH")  # len, type
_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct(
    "=BBBBBBBBI"
)  # family, dst_len, src_len, tos, table, proto, scope, type, flags
IFLA_ADDRESS, IFLA_IFNAME = 1, 3
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15


class Message(dict[str, Any]):
    """One answer: the header's fields and the attributes read, by pyroute2's names."""


def _attrs(data: bytes, at: int) -> Iterator[tuple[int, bytes]]:
    while at + _RTATTR.size <= len(data):
        size, kind = _RTATTR.unpack_from(data, at)
        if size < _RTATTR.size:
            return
        yield kind & 0x3FFF, data[at + _RTATTR.size : at + size]
        at += (size + 3) & ~3


def _address(family: int, raw: bytes) -> str:
    return socket.inet_ntop(family, raw)


def _link(body: bytes) -> Message:
    _family, _kind, index, flags, _change = _IFINFO.unpack_from(body)
    msg = Message(index=index, flags=flags, state="up" if flags & IFF_UP else "down")
    for kind, value in _attrs(body, _IFINFO.size):
        if kind == IFLA_IFNAME:
            msg["IFLA_IFNAME"] = value.rstrip(b"\0").decode(errors="replace")
        elif kind == IFLA_ADDRESS:
            msg["IFLA_ADDRESS"] = ":".join(f"{b:02x}" for b in value)
    return msg


def _addr(body: bytes) -> Message:
    family, prefixlen, flags, scope, index = _IFADDR.unpack_from(body)
    msg = Message(family=family, prefixlen=prefixlen, flags=flags, scope=scope, index=index)
    for kind, value in _attrs(body, _IFADDR.size):
        if kind in (IFA_ADDRESS, IFA_LOCAL):
            msg["IFA_ADDRESS" if kind == IFA_ADDRESS else "IFA_LOCAL"] = _address(family, value)
        elif kind == IFA_LABEL:
            msg["IFA_LABEL"] = value.rstrip(b"\0").decode(errors="replace")
    return msg


def _route(body: bytes) -> Message:
    family, dst_len, src_len, tos, table, proto, scope, kind, flags = _RTMSG.unpack_from(body)
    msg = Message(
        family=family,
        dst_len=dst_len,
        src_len=src_len,
        tos=tos,
        table=table,
        proto=proto,
        scope=scope,
        type=kind,
        flags=flags,
    )
    for attr, value in _attrs(body, _RTMSG.size):
        if attr == RTA_TABLE:
            msg["table"] = msg["RTA_TABLE"] = int.from_bytes(value[:4], "little")
        elif attr in (RTA_DST, RTA_GATEWAY):
            msg["RTA_DST" if attr == RTA_DST else "RTA_GATEWAY"] = _address(family, value)
        elif attr == RTA_OIF:
            msg["RTA_OIF"] = int.from_bytes(value[:4], "little")
    return msg


class IPRoute:
    """A netlink route socket in the calling thread's network namespace (read-only questions)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self._seq = itertools.count(1)

    def _dump(self, kind: int, header: bytes) -> Iterator[bytes]:
        """Every message body of one dump request."""
        seq = next(self._seq)
        flags = NLM_F_REQUEST | NLM_F_DUMP
        self.sock.send(_NLMSG.pack(_NLMSG.size + len(header), kind, flags, seq, 0) + header)
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                raise OSError(errno.EPROTO, "netlink closed during a dump")
            at = 0
            while at + _NLMSG.size <= len(data):
                size, mtype, _flags, mseq, _pid = _NLMSG.unpack_from(data, at)
                if size < _NLMSG.size:
                    raise OSError(errno.EPROTO, "a netlink message shorter than its header")
                body = data[at + _NLMSG.size : at + size]
                at += (size + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return
                yield body

    def get_links(self, index: int | None = None) -> list[Message]:
        links = [_link(b) for b in self._dump(RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0))]
        return [m for m in links if index is None or m["index"] == index]

    def link_lookup(self, ifname: str) -> list[int]:
        return [int(m["index"]) for m in self.get_links() if m.get("IFLA_IFNAME") == ifname]

    def get_addr(self, index: int | None = None, family: int = 0) -> list[Message]:
        addrs = [_addr(b) for b in self._dump(RTM_GETADDR, _IFADDR.pack(family, 0, 0, 0, 0))]
        return [
            m
            for m in addrs
            if (index is None or m["index"] == index) and (not family or m["family"] == family)
        ]

    def get_routes(self, family: int = 0, table: int | None = None) -> list[Message]:
        header = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
        routes = [_route(b) for b in self._dump(RTM_GETROUTE, header)]
        return [
            m
            for m in routes
            if (table is None or m["table"] == table) and (not family or m["family"] == family)
        ]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> IPRoute:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
