"""The kernel's socket table through sock_diag (NETLINK_SOCK_DIAG), like `ss -tano`.

A netlink socket belongs to the namespace it was opened in, so `SocketTable(ns)` opens it inside the
kernel host and then reads that namespace's TCP sockets from anywhere. Request socks (TCP_NEW_SYN_RECV,
a server's half-open connection) and TIME_WAIT mini sockets are included, as `ss` shows them.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass
from typing import Any

from tcplab.errors import EnvironmentProblem
from tcplab.model.state import LINUX_STATE_NUMBERS, LINUX_TIMER_NAMES, State
from tcplab.netns.enter import inside

ALL_STATES = 0xFFFFFFFF


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
        return "SYN-RECV" if self.linux_state == 12 else self.state.ss_name

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state.value
        out["ss_state"] = self.ss_state
        return out


def _row(msg: Any) -> SocketRow | None:
    num = msg.get("idiag_state")
    state = LINUX_STATE_NUMBERS.get(num)
    if state is None:
        return None
    return SocketRow(
        state=state,
        linux_state=num,
        src=msg.get("idiag_src"),
        sport=msg.get("idiag_sport"),
        dst=msg.get("idiag_dst"),
        dport=msg.get("idiag_dport"),
        timer=LINUX_TIMER_NAMES.get(msg.get("idiag_timer"), str(msg.get("idiag_timer"))),
        expires_ms=msg.get("idiag_expires") or 0,
        retrans=msg.get("idiag_retrans") or 0,
        rqueue=msg.get("idiag_rqueue") or 0,
        wqueue=msg.get("idiag_wqueue") or 0,
        inode=msg.get("idiag_inode") or 0,
    )


class SocketTable:
    """An open sock_diag socket in one namespace; `rows()` reads its IPv4 TCP sockets."""

    def __init__(self, ns: str) -> None:
        from pyroute2.netlink.diag import DiagSocket

        self.ns = ns
        with inside(ns):
            try:
                self._ds = DiagSocket()
                self._ds.bind()
            except OSError as exc:
                raise EnvironmentProblem(
                    f"cannot read the socket table of {ns}: {exc}", "run tcplab as root (sudo)"
                ) from exc

    def rows(self) -> list[SocketRow]:
        msgs = self._ds.get_sock_stats(family=socket.AF_INET, states=ALL_STATES)
        return [r for r in map(_row, msgs) if r is not None]

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
        self._ds.close()

    def __enter__(self) -> SocketTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
