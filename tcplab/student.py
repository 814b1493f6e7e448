"""The student's side of a lab: addresses, ports and a few helpers that hide no TCP field.

A solution (or `tcplab shell`) runs inside the crafting namespace. It builds segments with scapy,
exactly as it wants them, and uses this context to send them and to see the kernel's replies:

    from scapy.all import IP, TCP
    from tcplab.student import Lab

    lab = Lab()
    syn = IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=1000)
    synack = lab.sr(syn)                 # send, then wait for the kernel's answer
    print(synack[TCP].seq, synack[TCP].ack)

The capture starts when Lab() is created, so no reply is ever missed. `lab.app_*` ask the kernel host's
application to make a socket call (close, send, connect...), as a real server would; `lab.app(call)`
makes any call of tcplab.app.protocol (e.g. `lab.app(ListSockets())`) and returns its typed reply.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from tcplab import defaults
from tcplab.app.client import AppClient
from tcplab.app.protocol import (
    Abort,
    Accept,
    AppError,
    Close,
    Connect,
    ListAccepted,
    Listen,
    ListSockets,
    Recv,
    Reply,
    Send,
    Shutdown,
)
from tcplab.app.protocol import Call as AppCall
from tcplab.context import CONTEXT_ENV, LabContext
from tcplab.errors import EnvironmentProblem
from tcplab.model.flags import Flags
from tcplab.wire.capture import Capture, Sender

__all__ = ["CONTEXT_ENV", "Lab", "LabContext"]
R = TypeVar("R", bound=Reply)


class Lab:
    """Addresses (`src`, `dst`), ports (`sport` is yours, `dport` the kernel's), the interface, and
    send/expect helpers. Fields of the segments are never filled in or changed behind your back."""

    def __init__(self, context: LabContext | Mapping[str, Any] | None = None) -> None:
        if context is None:
            ctx = LabContext.from_env()
        elif isinstance(context, LabContext):
            ctx = context
        else:
            ctx = LabContext.from_mapping(context)
        self.context = ctx
        self.name: str = ctx.lab
        self.src: str = ctx.crafting_addr
        self.dst: str = ctx.kernel_addr
        self.iface: str = ctx.iface
        self.dport: int = ctx.port
        # when grading, each student gets their own ports (only these reach the kernel) and ISN
        self.ports: list[int] = list(ctx.ports)
        self.sport: int = ctx.sport or random.randrange(40000, 60000)
        self.isn: int = ctx.isn or random.randrange(1, 2**31)
        self._macs = (ctx.crafting_mac, ctx.kernel_mac)
        self._control: str = ctx.app_control
        self._capture = Capture(self.iface, self.src, self.dst)
        self._sender = Sender(self.iface)
        self._pending: list[Any] = []
        self._used = {self.sport}

    # -- segments ----------------------------------------------------------------------------------
    def send(self, pkt: Any) -> None:
        """Send a scapy packet: TCP(...) or IP(...)/TCP(...) (IP and Ethernet are added if
        missing, with the lab's addresses); nothing in the TCP header is changed."""
        from scapy.layers.inet import IP
        from scapy.layers.l2 import Ether

        if not pkt.haslayer(IP):
            pkt = IP(src=self.src, dst=self.dst) / pkt
        elif pkt[IP].src is None or pkt[IP].src == "0.0.0.0":
            pkt[IP].src = self.src
        if not pkt.haslayer(Ether):
            pkt = Ether(src=self._macs[0], dst=self._macs[1]) / pkt
        self._sender.send(bytes(pkt))

    def expect(
        self, timeout: float = 1.0, flags: str | Flags | None = None, port: int | None = None
    ) -> Any | None:
        """The next TCP segment the kernel sends to us (optionally with exactly these `flags`,
        e.g. "SA", and to this `port` of ours), or None after `timeout` seconds."""
        from scapy.layers.inet import TCP
        from scapy.layers.l2 import Ether

        want = Flags.from_letters(flags) if isinstance(flags, str) else flags

        def wanted(pkt: Any) -> bool:
            tcp = pkt[TCP]
            return (want is None or int(tcp.flags) == want) and (port is None or tcp.dport == port)

        for i, pkt in enumerate(self._pending):
            if wanted(pkt):
                return self._pending.pop(i)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frame = self._capture.read(left)
            if frame is None:
                return None
            pkt = Ether(frame.data)
            if TCP not in pkt or frame.outgoing or pkt["IP"].src != self.dst:
                continue
            pkt.time = frame.time
            if wanted(pkt):
                return pkt
            self._pending.append(pkt)
        return None

    def sr(self, pkt: Any, timeout: float = 1.0, flags: str | Flags | None = None) -> Any | None:
        """Send `pkt`, then return the kernel's next segment to the same port (or None)."""
        from scapy.layers.inet import TCP

        self.send(pkt)
        return self.expect(timeout, flags, port=pkt[TCP].sport)

    def new_port(self) -> int:
        """Another port of ours, for a second connection (the next of `lab.ports` when grading)."""
        if self.ports:
            for port in self.ports:
                if port not in self._used:
                    self._used.add(port)
                    return port
            raise EnvironmentProblem(
                f"no more ports: this run gives you {len(self.ports)} (lab.ports)",
                "reuse a port whose connection has ended",
            )
        while True:
            port = random.randrange(40000, 60000)
            if port not in self._used:
                self._used.add(port)
                return port

    # -- the kernel host's application -----------------------------------------------------------
    def app(self, call: AppCall[R]) -> R:
        """Make any call of the application's protocol (tcplab.app.protocol); its typed reply.
        A refused call raises tcplab.app.protocol.AppError."""
        with AppClient(self._control) as client:
            return client.call(call)

    def _conn_id(self, port: int | None) -> int:
        peer = (self.src, port or self.sport)
        for _ in range(100):
            self.app(ListAccepted(port=self.dport))  # takes in what the listener has completed
            socks = self.app(ListSockets()).sockets  # accepted ones and those it connect()ed
            found = next((c for c in socks if c.kind == "connection" and c.peer == peer), None)
            if found is not None:
                return found.id
            time.sleep(0.01)
        raise EnvironmentProblem(
            f"the application has no connection from port {peer[1]}",
            "complete a handshake from that port first",
        )

    def app_close(self, port: int | None = None) -> None:
        """The application close()s its connection from our `port` (default: lab.sport)."""
        self.app(Close(id=self._conn_id(port)))

    def app_shutdown(self, how: str = "wr", port: int | None = None) -> None:
        """The application calls shutdown(how) on its connection ("wr" sends a FIN)."""
        self.app(Shutdown(id=self._conn_id(port), how=how))

    def app_abort(self, port: int | None = None) -> None:
        """The application closes with SO_LINGER 0 (the kernel sends RST)."""
        self.app(Abort(id=self._conn_id(port)))

    def app_send(self, data: str, port: int | None = None) -> None:
        """The application send()s `data` on its connection."""
        self.app(Send(id=self._conn_id(port), data=data))

    def app_recv(self, port: int | None = None, timeout: float = 1.0) -> bytes:
        """The application recv()s what has arrived (b"" at the end of the stream)."""
        return self.app(Recv(id=self._conn_id(port), timeout=timeout)).data

    def app_connect(self, port: int | None = None) -> int:
        """The application connect()s to us at `port` (default lab.sport); returns the kernel's
        own port. Answer its SYN yourself."""
        return self.app(Connect(addr=self.src, port=port or self.sport)).local[1]

    def app_accept(self, port: int | None = None, timeout: float = 1.0) -> int | None:
        """The application accept()s one connection on its listener of `port` (default
        lab.dport), as a server's accept() would: the port of yours it came from, or None when
        no connection was complete within `timeout` seconds (at most 2 when graded)."""
        want = port or self.dport
        socks = self.app(ListSockets()).sockets
        lst = next(
            (s for s in socks if s.kind == "listener" and s.local and s.local[1] == want), None
        )
        if lst is None:
            raise EnvironmentProblem(
                f"the application has no listener on port {want}", "lab.app_listen(port) first"
            )
        try:
            return self.app(Accept(id=lst.id, timeout=timeout)).peer[1]
        except AppError as exc:
            if exc.reply.errno == "EAGAIN":
                return None
            raise

    def app_listen(self, port: int, backlog: int = defaults.BACKLOG) -> None:
        """The application listens on another port (it does not accept by itself)."""
        self.app(Listen(port=port, backlog=backlog))
