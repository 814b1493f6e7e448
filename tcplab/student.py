"""The student's side of a lab: addresses, ports and a few helpers that hide no TCP field.

A solution (or `tcplab shell`) runs inside the crafting namespace. It builds segments with scapy,
exactly as it wants them, and uses this context to send them and to see the kernel's replies:

    from scapy.all import IP, TCP
    from tcplab.student import Lab

    lab = Lab()
    syn = IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=1000)
    synack = lab.sr(syn)                 # send, then wait for the kernel's answer
    print(synack[TCP].seq, synack[TCP].ack)

The capture starts when Lab() is created, so no reply is ever missed. `lab.sr()` and `lab.expect()`
return only segments captured after your last send (a queued retransmission or an earlier FIN is
never taken for the answer to a later segment); `lab.pending()` hands out those earlier, unread
ones. `lab.app_*` ask the kernel host's application to make a socket call (close, send,
connect...), as a real server would; `lab.app(call)` makes any call of tcplab.app.protocol (e.g.
`lab.app(ListSockets())`) and returns its typed reply.

Run directly (`sudo python3 handshake.py`), with no lab context from `tcplab lab check` or
`tcplab shell`, Lab() uses the testbed `sudo tcplab setup` made (ns1/ns2; $TCPLAB_CRAFTING names
another): it runs the program again inside ns1 if it is not there already (what the program did
before Lab() happens twice). Without such a testbed, or without root, it stops the program with
one error line and the command to run instead (exit status 3).
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

from tcplab import child_env, defaults, i18n
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
from tcplab.errors import EnvironmentProblem, TcplabError
from tcplab.i18n import _
from tcplab.model.flags import Flags
from tcplab.text import printable
from tcplab.wire.capture import Capture, Sender

__all__ = ["CONTEXT_ENV", "TESTBED_ENV", "Lab", "LabContext"]
R = TypeVar("R", bound=Reply)
TESTBED_ENV = "TCPLAB_CRAFTING"  # run directly: the crafting host of this testbed (default ns1)


class Lab:
    """Addresses (`src`, `dst`), ports (`sport` is yours, `dport` the kernel's), the interface, and
    send/expect helpers. Fields of the segments are never filled in or changed behind your back."""

    def __init__(self, context: LabContext | Mapping[str, Any] | None = None) -> None:
        if context is None:
            ctx = _context_or_stop()
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
        self._pending: list[Any] = []  # kernel segments read from the capture, not handed out yet
        self._sent_at = time.time()  # when the last send left (at first: when the capture began)
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
        frame = bytes(pkt)
        self._sent_at = time.time()
        self._sender.send(frame)

    def expect(
        self,
        timeout: float = 1.0,
        flags: str | Flags | None = None,
        port: int | None = None,
        since: float | None = None,
        old: bool = False,
    ) -> Any | None:
        """The next TCP segment the kernel sends to us (optionally with exactly these `flags`,
        e.g. "SA", and to this `port` of ours), or None after `timeout` seconds.

        Only a segment captured after your last send counts (or after `since`, a time.time()
        value): one that arrived before it (a retransmitted SYN+ACK, an earlier FIN) is not the
        answer to what you just sent. Those stay unread: `old=True` takes them too, oldest first,
        and lab.pending() hands them all out."""
        want = Flags.from_letters(flags) if isinstance(flags, str) else flags
        after = None if old else (self._sent_at if since is None else since)

        def wanted(pkt: Any) -> bool:
            tcp = pkt["TCP"]
            return (
                (after is None or pkt.time >= after)
                and (want is None or int(tcp.flags) == want)
                and (port is None or tcp.dport == port)
            )

        for i, pkt in enumerate(self._pending):
            if wanted(pkt):
                return self._pending.pop(i)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            pkt = self._read(left)
            if pkt is None:
                return None
            if wanted(pkt):
                return pkt
            self._pending.append(pkt)
        return None

    def sr(self, pkt: Any, timeout: float = 1.0, flags: str | Flags | None = None) -> Any | None:
        """Send `pkt`, then return the kernel's next segment to the same port captured after it
        left (or None): never one that was already waiting (see lab.pending())."""
        from scapy.layers.inet import TCP

        self.send(pkt)
        return self.expect(timeout, flags, port=pkt[TCP].sport)

    def pending(self, flags: str | Flags | None = None, port: int | None = None) -> list[Any]:
        """Every segment the kernel has sent us that no expect() or sr() handed out (with these
        `flags`, to this `port`, when given), oldest first; each is handed out once. Among them:
        those that arrived before your last send, which expect() and sr() skip."""
        while (pkt := self._read(0)) is not None:
            self._pending.append(pkt)
        want = Flags.from_letters(flags) if isinstance(flags, str) else flags
        taken = [
            p
            for p in self._pending
            if (want is None or int(p["TCP"].flags) == want)
            and (port is None or p["TCP"].dport == port)
        ]
        self._pending = [p for p in self._pending if all(p is not t for t in taken)]
        return taken

    def _read(self, timeout: float) -> Any | None:
        """The next segment from the kernel host in the capture (its `time` the kernel's
        timestamp), or None after `timeout` seconds."""
        from scapy.layers.inet import TCP
        from scapy.layers.l2 import Ether

        deadline = time.monotonic() + timeout
        while True:
            frame = self._capture.read(max(deadline - time.monotonic(), 0))
            if frame is None:
                return None
            pkt = Ether(frame.data)
            if TCP in pkt and not frame.outgoing and pkt["IP"].src == self.dst:
                pkt.time = frame.time
                return pkt

    def new_port(self) -> int:
        """Another port of ours, for a second connection (the next of `lab.ports` when grading)."""
        if self.ports:
            for port in self.ports:
                if port not in self._used:
                    self._used.add(port)
                    return port
            raise EnvironmentProblem(
                _("no more ports: this run gives you {n_ports} (lab.ports)").format(
                    n_ports=len(self.ports)
                ),
                _("reuse a port whose connection has ended"),
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
        for _unused in range(100):
            self.app(ListAccepted(port=self.dport))  # takes in what the listener has completed
            socks = self.app(ListSockets()).sockets  # accepted ones and those it connect()ed
            found = next((c for c in socks if c.kind == "connection" and c.peer == peer), None)
            if found is not None:
                return found.id
            time.sleep(0.01)
        raise EnvironmentProblem(
            _("the application has no connection from port {peer}").format(peer=peer[1]),
            _("complete a handshake from that port first"),
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
                _("the application has no listener on port {want}").format(want=want),
                _("lab.app_listen(port) first"),
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


# -- run directly: the testbed of `tcplab setup` ----------------------------------------------------
def _context_or_stop() -> LabContext:
    """The lab context of this process: from the environment (lab check, tcplab shell), else, for
    a program's own Lab(), the testbed of `tcplab setup` (see the module's docstring); a problem
    stops that program with one error line and one hint, no traceback. A Lab() made by imported
    code (a test, a library) only reads the environment, and raises EnvironmentProblem."""
    i18n.speak_from_environment()  # the language of the command that started this program
    if not _made_by_main():
        return LabContext.from_env()
    try:
        if os.environ.get(CONTEXT_ENV):
            return LabContext.from_env()
        return _setup_testbed()
    except TcplabError as exc:
        _stop(exc)


def _made_by_main() -> bool:
    """Whether the code that called Lab() is the program being run (the `__main__` module)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None and frame.f_globals.get("__name__") == "__main__"


def _stop(problem: TcplabError) -> NoReturn:
    sys.stdout.flush()
    print(
        _("error: {message}").format(message=printable(problem.message, one_line=True)),
        file=sys.stderr,
    )
    if problem.hint:
        print(
            _("hint: {hint}").format(hint=printable(problem.hint, one_line=True)), file=sys.stderr
        )
    raise SystemExit(problem.exit_code)


def _setup_testbed() -> LabContext:
    """The context for the testbed of `tcplab setup`, once this process runs in its crafting
    namespace; if it does not yet, this program is run again there (and this never returns)."""
    from tcplab.netns.enter import inside, netns_inode
    from tcplab.netns.record import find_record, lab_context
    from tcplab.netns.topology import healthy

    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    name = script.removesuffix(".py") if script.endswith(".py") else "NAME"
    check = f"sudo tcplab lab check {name} {script or 'FILE'}"
    if not script or script == "-c" or sys.flags.interactive:
        raise EnvironmentProblem(
            _("no lab context in an interactive python or python -c"),
            _("work in: sudo tcplab shell"),
        )
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            _("{script} needs root to send crafted segments").format(script=script),
            _("run it as root: sudo python3 {script} (or score it: {check})").format(
                script=script, check=check
            ),
        )
    crafting = os.environ.get(TESTBED_ENV) or defaults.CRAFTING
    rec = find_record(crafting)
    if rec is None or rec.app is None or not healthy(rec):
        raise EnvironmentProblem(
            _(
                "no lab context, and no working testbed {crafting} from 'tcplab setup' "
                "to run against"
            ).format(crafting=crafting),
            _(
                "run 'sudo tcplab setup' first (or score it in a testbed of its own: {check})"
            ).format(check=check),
        )
    ctx = lab_context(rec, name, rec.spec.port)
    if os.stat("/proc/thread-self/ns/net").st_ino == netns_inode(crafting):
        return ctx
    print(
        _(
            "tcplab: running {script} again inside {crafting}, the crafting host of 'tcplab setup'"
        ).format(script=script, crafting=crafting),
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, *sys.orig_argv[1:]]
    with inside(crafting):
        os.execve(sys.executable, argv, child_env(**ctx.to_env()))
    raise AssertionError("execve returned")  # pragma: no cover
