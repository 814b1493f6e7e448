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
application to make a socket call (close, send, connect...), as a real server would.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from tcplab.app.client import AppClient
from tcplab.errors import EnvironmentProblem
from tcplab.model.flags import Flags
from tcplab.wire.capture import Capture, Sender

CONTEXT_ENV = "TCPLAB_CONTEXT"


class Lab:
    """Addresses (`src`, `dst`), ports (`sport` is yours, `dport` the kernel's), the interface, and
    send/expect helpers. Fields of the segments are never filled in or changed behind your back."""

    def __init__(self, context: dict[str, Any] | None = None) -> None:
        ctx = context if context is not None else _context_from_env()
        self.name: str = ctx.get("lab", "")
        self.src: str = ctx["crafting_addr"]
        self.dst: str = ctx["kernel_addr"]
        self.iface: str = ctx["iface"]
        self.dport: int = int(ctx["port"])
        # when grading, each student gets their own ports (only these reach the kernel) and ISN
        self.ports: list[int] = [int(p) for p in ctx.get("ports", [])]
        self.sport: int = int(ctx.get("sport") or random.randrange(40000, 60000))
        self.isn: int = int(ctx.get("isn") or random.randrange(1, 2**31))
        self._macs = (ctx["crafting_mac"], ctx["kernel_mac"])
        self._control: str = ctx["app_control"]
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
    def _call(self, op: str, **args: Any) -> dict[str, Any]:
        with AppClient(self._control) as app:
            return app.call(op, **args)

    def _conn_id(self, port: int | None) -> int:
        peer = [self.src, port or self.sport]
        for _ in range(100):
            self._call("accepted", port=self.dport)  # takes in what the listener has completed
            socks = self._call("list")["sockets"]  # accepted ones and those it connect()ed
            found = next(
                (c for c in socks if c["kind"] == "connection" and c["peer"] == peer), None
            )
            if found is not None:
                return int(found["id"])
            time.sleep(0.01)
        raise EnvironmentProblem(
            f"the application has no connection from port {peer[1]}",
            "complete a handshake from that port first",
        )

    def app_close(self, port: int | None = None) -> None:
        """The application close()s its connection from our `port` (default: lab.sport)."""
        self._call("close", id=self._conn_id(port))

    def app_shutdown(self, how: str = "wr", port: int | None = None) -> None:
        """The application calls shutdown(how) on its connection ("wr" sends a FIN)."""
        self._call("shutdown", id=self._conn_id(port), how=how)

    def app_abort(self, port: int | None = None) -> None:
        """The application closes with SO_LINGER 0 (the kernel sends RST)."""
        self._call("abort", id=self._conn_id(port))

    def app_send(self, data: str, port: int | None = None) -> None:
        """The application send()s `data` on its connection."""
        self._call("send", id=self._conn_id(port), data=data)

    def app_recv(self, port: int | None = None, timeout: float = 1.0) -> bytes:
        """The application recv()s what has arrived (b"" at the end of the stream)."""
        import base64

        got = self._call("recv", id=self._conn_id(port), timeout=timeout)
        return base64.b64decode(got["data"])

    def app_connect(self, port: int | None = None) -> int:
        """The application connect()s to us at `port` (default lab.sport); returns the kernel's
        own port. Answer its SYN yourself."""
        got = self._call("connect", addr=self.src, port=port or self.sport)
        return int(got["local"][1])

    def app_listen(self, port: int, backlog: int = 128) -> None:
        """The application listens on another port (it does not accept by itself)."""
        self._call("listen", port=port, backlog=backlog)


def _context_from_env() -> dict[str, Any]:
    raw = os.environ.get(CONTEXT_ENV)
    if not raw:
        raise EnvironmentProblem(
            "no lab context: this code runs inside a lab",
            "run it with 'tcplab lab check NAME FILE', or work in 'tcplab shell'",
        )
    data: dict[str, Any] = json.loads(raw)
    return data
