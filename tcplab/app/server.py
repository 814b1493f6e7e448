"""The kernel-side application process: real sockets in the kernel host, socket calls on command.

Run by `tcplab setup` inside the kernel host's namespace:

    python -m tcplab.app.server --control PATH [--listen PORT] [--ready-fd FD] [--owner-fd FD]

It answers one JSON object per line on a Unix socket (mode 0600 in a 0700 directory: root only); the
calls and replies are those of tcplab.app.protocol, each made by the method `serves` enters in the
dispatch table. Every call that changes a socket (listen, accept, connect, send, recv, shutdown,
close, abort, setsockopt) is kept in a bounded log with its time, ports and outcome; the `history`
call, which the grading proxy never offers to solutions, returns it to the lab checker. Listeners
made with auto_accept accept every connection as soon as it completes, like a server's accept loop;
others accept only when told. Nothing is ever read unless asked: unread data is part of what a lab
observes (close() with unread data sends RST).

With --owner-fd (a pidfd of the process that owns an ephemeral testbed: a run, a check, a grading) it exits
as soon as that process is gone, however it ended, SIGKILL included.

Only the standard library is imported, so the process starts in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import fcntl
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tcplab import defaults, i18n
from tcplab.app.protocol import (
    HISTORY_LIMIT,
    Abort,
    Accept,
    Address,
    Call,
    Close,
    Connect,
    Connecting,
    Connections,
    Created,
    Done,
    Error,
    Event,
    GetSockOpt,
    History,
    Ioctl,
    ListAccepted,
    Listen,
    Listening,
    ListSockets,
    Log,
    NewConnection,
    OptionValue,
    Peer,
    Ping,
    Pong,
    Reason,
    Received,
    Recv,
    Reply,
    Send,
    Sent,
    SetSockOpt,
    Shutdown,
    Socket,
    SocketInfo,
    Sockets,
    TcpInfo,
    encode_reply,
    read_call,
)
from tcplab.i18n import _

SHUT = {"rd": socket.SHUT_RD, "wr": socket.SHUT_WR, "rdwr": socket.SHUT_RDWR}
SOCKOPT_NAMES = {
    "SO_LINGER": (socket.SOL_SOCKET, socket.SO_LINGER),
    "SO_RCVBUF": (socket.SOL_SOCKET, socket.SO_RCVBUF),
    "SO_SNDBUF": (socket.SOL_SOCKET, socket.SO_SNDBUF),
    "SO_REUSEADDR": (socket.SOL_SOCKET, socket.SO_REUSEADDR),
    "TCP_NODELAY": (socket.IPPROTO_TCP, socket.TCP_NODELAY),
    "TCP_MAXSEG": (socket.IPPROTO_TCP, socket.TCP_MAXSEG),
    "TCP_QUICKACK": (socket.IPPROTO_TCP, socket.TCP_QUICKACK),
    "TCP_DEFER_ACCEPT": (socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT),
    "TCP_SYNCNT": (socket.IPPROTO_TCP, socket.TCP_SYNCNT),
    "SO_KEEPALIVE": (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
    "TCP_KEEPIDLE": (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
    "TCP_KEEPINTVL": (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
    "TCP_KEEPCNT": (socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    "TCP_USER_TIMEOUT": (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
    "TCP_LINGER2": (socket.IPPROTO_TCP, socket.TCP_LINGER2),
    "TCP_WINDOW_CLAMP": (socket.IPPROTO_TCP, socket.TCP_WINDOW_CLAMP),
    "SO_ERROR": (socket.SOL_SOCKET, socket.SO_ERROR),
}
IOCTL_NUMBERS = {"SIOCINQ": 0x541B, "SIOCOUTQ": 0x5411}  # FIONREAD, TIOCOUTQ (asm-generic/ioctls.h)
_TCP_INFO = struct.Struct("8B24I")  # struct tcp_info up to tcpi_total_retrans (104 bytes)


TCP_CLOSE = 7  # include/net/tcp_states.h


def _tcp_state(sock: socket.socket) -> int:
    """The kernel's state of a TCP socket (first byte of struct tcp_info)."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return TCP_CLOSE


class CallError(Exception):
    """A call the application cannot make; sent back as an Error reply (with the errno's name
    when a system call failed)."""

    def __init__(self, message: str, errno_name: str = "") -> None:
        super().__init__(message)
        self.errno_name = errno_name


def _failed(message: str, exc: OSError) -> CallError:
    """`message` with the system call's error, its errno kept by name."""
    name = errno.errorcode.get(exc.errno or 0, "")
    return CallError(
        _("{message}: {strerror}").format(message=message, strerror=exc.strerror), name
    )


def _tcp_info(sock: socket.socket) -> TcpInfo:
    """The fields of struct tcp_info that TcpInfo keeps."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
    v = _TCP_INFO.unpack(raw.ljust(_TCP_INFO.size, b"\0"))
    return TcpInfo(
        state=v[0], ca_state=v[1], retransmits=v[2], probes=v[3], backoff=v[4], rto=v[8],
        ato=v[9], snd_mss=v[10], rcv_mss=v[11], unacked=v[12], retrans=v[15],
        total_retrans=v[31], snd_cwnd=v[25], rtt=v[22],
    )  # fmt: skip


@dataclass
class Sock:
    id: int
    sock: socket.socket
    kind: str  # "listener" or "connection"
    auto_accept: bool = False
    accepted_from: int | None = None
    peer: Address | None = None
    accepted: list[Address] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # accepted for a later accept of their port

    def ports(self) -> tuple[int | None, int | None]:
        """(local port, peer port) as the log keeps them."""
        try:
            local: int | None = self.sock.getsockname()[1]
        except OSError:
            local = None
        return local, (self.peer[1] if self.peer else None)


C = TypeVar("C", bound=Call[Any])
Handler = Callable[["App", Any], Reply]
HANDLERS: dict[type[Call[Any]], Handler] = {}  # the dispatch table: call class -> App method
LOGGED = (
    Listen,
    Accept,
    Connect,
    Send,
    Recv,
    Shutdown,
    Close,
    Abort,
    SetSockOpt,
)  # History's calls


def serves(call: type[C]) -> Callable[[Callable[[App, C], Reply]], Callable[[App, C], Reply]]:
    """Enter the decorated method in the dispatch table as the one that makes `call`."""

    def enter(method: Callable[[App, C], Reply]) -> Callable[[App, C], Reply]:
        HANDLERS[call] = method
        return method

    return enter


class App:
    def __init__(self) -> None:
        self.socks: dict[int, Sock] = {}
        self.next_id = 1
        self.sel = selectors.DefaultSelector()
        self.log: list[
            Event
        ] = []  # the calls that changed a socket (History), at most HISTORY_LIMIT
        self.dropped = 0

    # -- helpers ---------------------------------------------------------------------------------
    def _add(self, sock: socket.socket, kind: str, **kw: Any) -> Sock:
        s = Sock(self.next_id, sock, kind, **kw)
        self.next_id += 1
        self.socks[s.id] = s
        return s

    def _get(self, ident: int, kind: str | None = None) -> Sock:
        s = self.socks.get(ident)
        if s is None:
            raise CallError(_("no socket with id {ident}").format(ident=ident))
        if kind and s.kind != kind:
            raise CallError(
                _("socket {ident} is a {kind}, not a {wanted}").format(
                    ident=ident, kind=s.kind, wanted=kind
                )
            )
        return s

    def _describe(self, s: Sock) -> SocketInfo:
        try:
            name = s.sock.getsockname()
            local: Address | None = (name[0], name[1])
        except OSError:
            local = None
        if s.kind == "listener":
            return SocketInfo(
                id=s.id,
                kind=s.kind,
                local=local,
                peer=s.peer,
                auto_accept=s.auto_accept,
                accepted=tuple(s.accepted),
            )
        return SocketInfo(
            id=s.id, kind=s.kind, local=local, peer=s.peer, accepted_from=s.accepted_from
        )

    def _accept_one(self, lst: Sock) -> Sock:
        conn, peer = lst.sock.accept()
        conn.setblocking(False)
        c = self._add(conn, "connection", accepted_from=lst.id, peer=(peer[0], peer[1]))
        lst.accepted.append((peer[0], peer[1]))
        return c

    def _wait(self, sock: socket.socket, events: int, timeout: float) -> bool:
        sel = selectors.DefaultSelector()
        sel.register(sock, events)
        try:
            return bool(sel.select(timeout))
        finally:
            sel.close()

    # -- calls -----------------------------------------------------------------------------------
    @serves(Ping)
    def ping(self, call: Ping) -> Pong:
        return Pong(pid=os.getpid())

    def _new_or_made(self, ident: int) -> socket.socket:
        """The socket `socket` made (taken out of the table), or a new one."""
        if not ident:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        made = self._get(ident, "socket")
        del self.socks[ident]
        return made.sock

    @serves(Socket)
    def make_socket(self, call: Socket) -> Created:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        return Created(id=self._add(sock, "socket").id)

    @serves(Listen)
    def listen(self, call: Listen) -> Listening:
        sock = self._new_or_made(call.id)
        try:
            if call.reuseaddr:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((call.addr, call.port))
            sock.listen(call.backlog)
        except OSError as exc:
            sock.close()
            raise _failed(
                _("listen on {addr}:{port} failed").format(addr=call.addr, port=call.port), exc
            ) from exc
        sock.setblocking(False)
        s = self._add(sock, "listener", auto_accept=call.auto_accept)
        if s.auto_accept:
            self.sel.register(sock, selectors.EVENT_READ, s)
        return Listening(id=s.id)

    @serves(Accept)
    def accept(self, call: Accept) -> NewConnection:
        lst = self._get(call.id, "listener")
        deadline = time.monotonic() + call.timeout
        taken = 0
        while True:
            c = self._take_held(lst, call.peer_port)
            if c is not None:
                break
            left = deadline - time.monotonic()
            if not self._wait(lst.sock, selectors.EVENT_READ, max(left, 0.0)):
                raise self._nothing_to_accept(lst, call)
            try:
                c = self._accept_one(lst)
            except (BlockingIOError, InterruptedError):
                continue
            taken += 1
            assert c.peer is not None
            if call.peer_port in (0, c.peer[1]):
                break
            lst.held.append(c.id)
        assert c.peer is not None
        return NewConnection(id=c.id, peer=c.peer, taken=taken)

    def _take_held(self, lst: Sock, port: int) -> Sock | None:
        """A connection accepted earlier for another accept, from `port` (any, if 0)."""
        for ident in lst.held:
            c = self.socks.get(ident)
            if c is not None and c.peer is not None and port in (0, c.peer[1]):
                lst.held.remove(ident)
                return c
        return None

    def _nothing_to_accept(self, lst: Sock, call: Accept) -> CallError:
        if call.peer_port:
            message = _(
                "no connection from port {port} to accept on listener {id} within {timeout} s"
            ).format(port=call.peer_port, id=call.id, timeout=call.timeout)
        else:
            message = _("no connection to accept on listener {id} within {timeout} s").format(
                id=call.id, timeout=call.timeout
            )
        others = [self.socks[i].ports()[1] for i in lst.held if i in self.socks]
        if others:
            message = _("{message} (the kernel offered port {ports})").format(
                message=message, ports=", ".join(map(str, others))
            )
        return CallError(message, "EAGAIN")

    @serves(Connect)
    def connect(self, call: Connect) -> Connecting:
        sock = self._new_or_made(call.id)
        sock.setblocking(False)
        where = f"{call.addr}:{call.port}"
        try:
            if call.sport:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((call.bind, call.sport))
            err = sock.connect_ex((call.addr, call.port))
        except OSError as exc:
            sock.close()
            raise _failed(_("connect to {where} failed").format(where=where), exc) from exc
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise CallError(
                _("connect to {where} failed: {strerror}").format(
                    where=where, strerror=os.strerror(err)
                ),
                errno.errorcode[err],
            )
        c = self._add(sock, "connection", peer=(call.addr, call.port))
        name = sock.getsockname()
        return Connecting(id=c.id, local=(name[0], name[1]))

    @serves(Send)
    def send(self, call: Send) -> Sent:
        c = self._get(call.id, "connection")
        try:
            raw = (
                base64.b64decode(call.data, validate=True)
                if call.encoding == "base64"
                else call.data.encode()
            )
        except (ValueError, UnicodeError) as exc:
            raise CallError(
                _("send on socket {id}: data is not {encoding}").format(
                    id=call.id, encoding=call.encoding
                )
            ) from exc
        try:
            return Sent(sent=c.sock.send(raw or b"x" * call.size))
        except OSError as exc:
            raise _failed(_("send on socket {id} failed").format(id=call.id), exc) from exc

    @serves(Recv)
    def recv(self, call: Recv) -> Received:
        c = self._get(call.id, "connection")
        if not self._wait(c.sock, selectors.EVENT_READ, call.timeout):
            return Received(data=b"", eof=False, timeout=True)
        try:
            raw = c.sock.recv(call.max)
        except OSError as exc:
            raise _failed(_("recv on socket {id} failed").format(id=call.id), exc) from exc
        return Received(data=raw, eof=raw == b"", timeout=False)

    @serves(Shutdown)
    def shutdown(self, call: Shutdown) -> Done:
        c = self._get(call.id, "connection")
        try:
            c.sock.shutdown(SHUT[call.how])
        except OSError as exc:
            raise _failed(_("shutdown on socket {id} failed").format(id=call.id), exc) from exc
        return Done()

    def _close(self, s: Sock) -> None:
        if s.kind == "listener" and s.auto_accept:
            self.sel.unregister(s.sock)
        s.sock.close()
        del self.socks[s.id]

    @serves(Close)
    def close(self, call: Close) -> Done:
        self._close(self._get(call.id))
        return Done()

    @serves(Abort)
    def abort(self, call: Abort) -> Done:
        s = self._get(call.id)
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._close(s)
        return Done()

    @serves(SetSockOpt)
    def setsockopt(self, call: SetSockOpt) -> Done:
        s = self._get(call.id)
        level, opt = SOCKOPT_NAMES[call.name]
        value = call.value
        packed = struct.pack("ii", *value) if isinstance(value, tuple) else value
        try:
            s.sock.setsockopt(level, opt, packed)
        except OSError as exc:
            raise _failed(
                _("setsockopt {name} on socket {id}").format(name=call.name, id=call.id), exc
            ) from exc
        return Done()

    @serves(GetSockOpt)
    def getsockopt(self, call: GetSockOpt) -> OptionValue:
        s = self._get(call.id)
        try:
            if call.name == "TCP_INFO":
                info = _tcp_info(s.sock)
                return OptionValue(value=info.state, info=info)
            level, opt = SOCKOPT_NAMES[call.name]
            if call.name == "SO_LINGER":
                on, seconds = struct.unpack("ii", s.sock.getsockopt(level, opt, 8))
                return OptionValue(value=seconds if on else -1)
            return OptionValue(value=s.sock.getsockopt(level, opt))
        except OSError as exc:
            raise _failed(
                _("getsockopt {name} on socket {id}").format(name=call.name, id=call.id), exc
            ) from exc

    @serves(Ioctl)
    def ioctl(self, call: Ioctl) -> OptionValue:
        s = self._get(call.id)
        try:
            raw = fcntl.ioctl(s.sock.fileno(), IOCTL_NUMBERS[call.name], b"\0" * 4)
        except OSError as exc:
            raise _failed(
                _("ioctl {name} on socket {id}").format(name=call.name, id=call.id), exc
            ) from exc
        return OptionValue(value=struct.unpack("i", raw)[0])

    @serves(History)
    def history(self, call: History) -> Log:
        return Log(events=tuple(self.log), dropped=self.dropped)

    def _prune(self) -> None:
        """Forget connections the kernel has already closed (reset by the peer, say)."""
        for s in list(self.socks.values()):
            if s.kind == "connection" and _tcp_state(s.sock) == TCP_CLOSE:
                self._close(s)

    @serves(ListSockets)
    def list(self, call: ListSockets) -> Sockets:
        self._prune()
        return Sockets(sockets=tuple(self._describe(s) for s in self.socks.values()))

    @serves(ListAccepted)
    def accepted(self, call: ListAccepted) -> Connections:
        """Open connections accepted on listeners of this port: id and peer of each."""
        for s in list(self.socks.values()):
            if s.kind == "listener" and s.sock.getsockname()[1] == call.port:
                self._drain_accepts(s)
        self._prune()
        conns = tuple(
            Peer(id=c.id, peer=c.peer)
            for c in self.socks.values()
            if c.kind == "connection"
            and c.accepted_from is not None
            and self.socks.get(c.accepted_from) is not None
            and self.socks[c.accepted_from].sock.getsockname()[1] == call.port
        )
        return Connections(connections=conns)

    def _drain_accepts(self, lst: Sock) -> None:
        if not lst.auto_accept:
            return
        while True:
            try:
                c = self._accept_one(lst)
            except (BlockingIOError, InterruptedError):
                return
            local, peer = c.ports()
            self._keep(Event(op=Accept.op, time=time.time(), id=c.id, local_port=local,
                             peer_port=peer, ok=True, auto=True))  # fmt: skip

    def make(self, call: Call[Any]) -> Reply:
        """Make one call: its reply, or an Error (a refused or failed call never stops the app).
        A call that changes a socket is kept in the log (History)."""
        started = time.time()
        before = self.socks.get(getattr(call, "id", 0))
        ports = before.ports() if before is not None else (None, None)
        try:
            reply = HANDLERS[type(call)](self, call)
        except CallError as exc:
            reply = Error(error=str(exc), reason=Reason.FAILED, errno=exc.errno_name)
        except Exception as exc:  # one bad call must never stop the application
            reply = Error(error=f"bad call: {type(exc).__name__}: {exc}", reason=Reason.FAILED)
        if type(call) in LOGGED:
            self._log_call(call, reply, started, ports)
        return reply

    # -- the log ---------------------------------------------------------------------------------
    def _keep(self, event: Event) -> None:
        if len(self.log) < HISTORY_LIMIT:
            self.log.append(event)
        else:
            self.dropped += 1

    def _log_call(
        self,
        call: Call[Any],
        reply: Reply,
        started: float,
        ports: tuple[int | None, int | None],
    ) -> None:
        """The call as the log keeps it: when it began (when it returned, for accept and recv),
        the socket's ports and the outcome."""
        ok = not isinstance(reply, Error)
        at = time.time() if isinstance(call, (Accept, Recv)) else started
        ident = getattr(call, "id", 0)
        extra: dict[str, Any] = {}
        match call, reply:
            case Listen(), Listening():
                ident, ports = reply.id, (call.port, None)
                extra = {"backlog": call.backlog, "auto": call.auto_accept}
            case Listen(), _:
                ports, extra = (call.port, None), {"backlog": call.backlog}
            case Accept(), NewConnection():
                ident, ports = reply.id, self.socks[reply.id].ports()
            case Connect(), Connecting():
                ident, ports = reply.id, (reply.local[1], call.port)
            case Connect(), _:
                ports = (call.sport or None, call.port)
            case Send(), Sent():
                extra = {"nbytes": reply.sent}
            case Recv(), Received():
                extra = {"nbytes": len(reply.data), "eof": reply.eof}
            case Shutdown(), _:
                extra = {"how": call.how}
            case Abort(), _:
                extra = {"linger0": True}
            case SetSockOpt(), _:
                extra = {"linger0": call.name == "SO_LINGER" and call.value == (1, 0)}
        error = reply.error if isinstance(reply, Error) else ""
        self._keep(Event(op=call.op, time=at, id=ident, local_port=ports[0],
                         peer_port=ports[1], ok=ok, error=error, **extra))  # fmt: skip

    def handle(self, line: bytes) -> bytes:
        """One line from a client -> one reply line."""
        call = read_call(line)
        return encode_reply(call if isinstance(call, Error) else self.make(call))


def serve(
    control: str, listen_port: int, ready_fd: int | None, owner_fd: int | None = None
) -> None:
    app = App()
    if owner_fd is not None:
        if select.select([owner_fd], [], [], 0)[0]:
            return  # the owner is already gone
        app.sel.register(owner_fd, selectors.EVENT_READ, "owner")
    if listen_port:
        made = app.make(Listen(port=listen_port, backlog=defaults.BACKLOG, auto_accept=True))
        if isinstance(made, Error):
            raise OSError(made.error)
    old = os.umask(0o177)
    try:
        if os.path.exists(control):
            os.unlink(control)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(control)
    finally:
        os.umask(old)
    os.chmod(control, 0o600)
    srv.listen(8)
    srv.setblocking(False)
    app.sel.register(srv, selectors.EVENT_READ, "control")
    buffers: dict[socket.socket, bytes] = {}
    try:  # from here a SIGTERM (even one sent the moment "ready" is read) ends it tidily
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        held = {signal.SIGTERM, signal.SIGINT}  # setup held them while it built the testbed
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        if ready_fd is not None:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)
        while True:
            for key, _unused in app.sel.select():
                if key.data == "control":
                    conn, _unused = srv.accept()
                    conn.setblocking(False)
                    buffers[conn] = b""
                    app.sel.register(conn, selectors.EVENT_READ, "client")
                elif key.data == "owner":
                    raise _Stop  # the testbed's owner is gone: so is its application
                elif key.data == "client":
                    _serve_client(app, key.fileobj, buffers)  # type: ignore[arg-type]
                else:
                    app._drain_accepts(key.data)
    except _Stop:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(control)


class _Stop(Exception):
    """Raised by the SIGTERM/SIGINT handler, so a blocking select() ends at once."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def _serve_client(app: App, conn: socket.socket, buffers: dict[socket.socket, bytes]) -> None:
    try:
        chunk = conn.recv(65536)
    except OSError:
        chunk = b""
    if not chunk:
        app.sel.unregister(conn)
        conn.close()
        buffers.pop(conn, None)
        return
    buffers[conn] += chunk
    while b"\n" in buffers[conn]:
        line, buffers[conn] = buffers[conn].split(b"\n", 1)
        reply = app.handle(line)
        conn.setblocking(True)
        conn.sendall(reply)
        conn.setblocking(False)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tcplab-app", description=__doc__.splitlines()[0])
    ap.add_argument("--control", required=True, help="path of the Unix control socket")
    ap.add_argument("--listen", type=int, default=0, help="port of an auto-accepting listener")
    ap.add_argument("--ready-fd", type=int, default=None, help="fd to write 'ready' to")
    ap.add_argument("--owner-fd", type=int, default=None, help="pidfd of the owner: exit with it")
    args = ap.parse_args(argv)
    i18n.speak_from_environment()
    try:
        serve(args.control, args.listen, args.ready_fd, args.owner_fd)
    except OSError as exc:
        print(_("tcplab app: {exc}").format(exc=exc), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
