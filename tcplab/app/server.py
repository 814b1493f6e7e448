"""The kernel-side application process: real sockets in the kernel host, socket calls on command.

Run by `tcplab setup` inside the kernel host's namespace:

    python -m tcplab.app.server --control PATH [--listen PORT] [--ready-fd FD] [--owner-fd FD]

It answers one JSON object per line on a Unix socket (mode 0600 in a 0700 directory: root only). Calls:
ping, listen, accept, connect, send, recv, shutdown, close, abort (SO_LINGER 0), setsockopt, list,
accepted. Listeners made with auto_accept accept every connection as soon as it completes, like a
server's accept loop; others accept only when told. Nothing is ever read unless asked: unread data is
part of what a lab observes (close() with unread data sends RST).

With --owner-fd (a pidfd of the process that owns an ephemeral lab: a run, a check, a grading) it exits
as soon as that process is gone, however it ended, SIGKILL included.

Only the standard library is imported, so the process starts in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
from dataclasses import dataclass, field
from typing import Any

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
}


TCP_CLOSE = 7  # include/net/tcp_states.h


def _tcp_state(sock: socket.socket) -> int:
    """The kernel's state of a TCP socket (first byte of struct tcp_info)."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return TCP_CLOSE


class CallError(Exception):
    """A call the application cannot make; sent back as {"ok": false, "error": ...}."""


@dataclass
class Sock:
    id: int
    sock: socket.socket
    kind: str  # "listener" or "connection"
    auto_accept: bool = False
    accepted_from: int | None = None
    peer: tuple[str, int] | None = None
    accepted: list[tuple[str, int]] = field(default_factory=list)


class App:
    def __init__(self) -> None:
        self.socks: dict[int, Sock] = {}
        self.next_id = 1
        self.sel = selectors.DefaultSelector()

    # -- helpers ---------------------------------------------------------------------------------
    def _add(self, sock: socket.socket, kind: str, **kw: Any) -> Sock:
        s = Sock(self.next_id, sock, kind, **kw)
        self.next_id += 1
        self.socks[s.id] = s
        return s

    def _get(self, ident: Any, kind: str | None = None) -> Sock:
        s = self.socks.get(int(ident))
        if s is None:
            raise CallError(f"no socket with id {ident}")
        if kind and s.kind != kind:
            raise CallError(f"socket {ident} is a {s.kind}, not a {kind}")
        return s

    def _describe(self, s: Sock) -> dict[str, Any]:
        try:
            local = s.sock.getsockname()
        except OSError:
            local = None
        out: dict[str, Any] = {"id": s.id, "kind": s.kind, "local": local, "peer": s.peer}
        if s.kind == "listener":
            out["auto_accept"] = s.auto_accept
            out["accepted"] = s.accepted
        else:
            out["accepted_from"] = s.accepted_from
        return out

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
    def call_ping(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    def call_listen(
        self,
        port: int,
        backlog: int = 128,
        addr: str = "0.0.0.0",
        auto_accept: bool = False,
        reuseaddr: bool = True,
    ) -> dict[str, Any]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if reuseaddr:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((addr, int(port)))
            sock.listen(int(backlog))
        except OSError as exc:
            sock.close()
            raise CallError(f"listen on {addr}:{port} failed: {exc.strerror}") from exc
        sock.setblocking(False)
        s = self._add(sock, "listener", auto_accept=bool(auto_accept))
        if s.auto_accept:
            self.sel.register(sock, selectors.EVENT_READ, s)
        return {"id": s.id}

    def call_accept(self, id: int, timeout: float = 1.0) -> dict[str, Any]:
        lst = self._get(id, "listener")
        if not self._wait(lst.sock, selectors.EVENT_READ, float(timeout)):
            raise CallError(f"no connection to accept on listener {id} within {timeout} s")
        c = self._accept_one(lst)
        return {"id": c.id, "peer": c.peer}

    def call_connect(
        self, addr: str, port: int, sport: int = 0, bind: str = "0.0.0.0"
    ) -> dict[str, Any]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            if sport:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((bind, int(sport)))
            err = sock.connect_ex((addr, int(port)))
        except OSError as exc:
            sock.close()
            raise CallError(f"connect to {addr}:{port} failed: {exc.strerror}") from exc
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise CallError(f"connect to {addr}:{port} failed: {os.strerror(err)}")
        c = self._add(sock, "connection", peer=(addr, int(port)))
        return {"id": c.id, "local": sock.getsockname()}

    def call_send(self, id: int, data: str, encoding: str = "utf-8") -> dict[str, Any]:
        c = self._get(id, "connection")
        raw = base64.b64decode(data) if encoding == "base64" else data.encode(encoding)
        try:
            return {"sent": c.sock.send(raw)}
        except OSError as exc:
            raise CallError(f"send on socket {id} failed: {exc.strerror}") from exc

    def call_recv(self, id: int, max: int = 65536, timeout: float = 1.0) -> dict[str, Any]:
        c = self._get(id, "connection")
        if not self._wait(c.sock, selectors.EVENT_READ, float(timeout)):
            return {"data": "", "eof": False, "timeout": True}
        try:
            raw = c.sock.recv(int(max))
        except OSError as exc:
            raise CallError(f"recv on socket {id} failed: {exc.strerror}") from exc
        return {"data": base64.b64encode(raw).decode(), "eof": raw == b"", "timeout": False}

    def call_shutdown(self, id: int, how: str = "wr") -> dict[str, Any]:
        c = self._get(id, "connection")
        if how not in SHUT:
            raise CallError(f"shutdown how={how!r}; use rd, wr or rdwr")
        try:
            c.sock.shutdown(SHUT[how])
        except OSError as exc:
            raise CallError(f"shutdown on socket {id} failed: {exc.strerror}") from exc
        return {}

    def _close(self, s: Sock) -> None:
        if s.kind == "listener" and s.auto_accept:
            self.sel.unregister(s.sock)
        s.sock.close()
        del self.socks[s.id]

    def call_close(self, id: int) -> dict[str, Any]:
        self._close(self._get(id))
        return {}

    def call_abort(self, id: int) -> dict[str, Any]:
        s = self._get(id)
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._close(s)
        return {}

    def call_setsockopt(self, id: int, name: str, value: int | list[int]) -> dict[str, Any]:
        s = self._get(id)
        if name not in SOCKOPT_NAMES:
            raise CallError(f"unknown socket option {name!r}; known: {', '.join(SOCKOPT_NAMES)}")
        level, opt = SOCKOPT_NAMES[name]
        packed = struct.pack("ii", *value) if isinstance(value, list) else int(value)
        s.sock.setsockopt(level, opt, packed)
        return {}

    def _prune(self) -> None:
        """Forget connections the kernel has already closed (reset by the peer, say)."""
        for s in list(self.socks.values()):
            if s.kind == "connection" and _tcp_state(s.sock) == TCP_CLOSE:
                self._close(s)

    def call_list(self) -> dict[str, Any]:
        self._prune()
        return {"sockets": [self._describe(s) for s in self.socks.values()]}

    def call_accepted(self, port: int) -> dict[str, Any]:
        """Open connections accepted on listeners of this port: id and peer of each."""
        for s in list(self.socks.values()):
            if s.kind == "listener" and s.sock.getsockname()[1] == int(port):
                self._drain_accepts(s)
        self._prune()
        conns = [
            {"id": c.id, "peer": c.peer}
            for c in self.socks.values()
            if c.kind == "connection"
            and c.accepted_from is not None
            and self.socks.get(c.accepted_from) is not None
            and self.socks[c.accepted_from].sock.getsockname()[1] == int(port)
        ]
        return {"connections": conns}

    def _drain_accepts(self, lst: Sock) -> None:
        if not lst.auto_accept:
            return
        while True:
            try:
                self._accept_one(lst)
            except (BlockingIOError, InterruptedError):
                return

    def handle(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            op = req.pop("op")
            fn = getattr(self, f"call_{op}", None)
            if fn is None:
                raise CallError(f"unknown call {op!r}")
            return {"ok": True, **fn(**req)}
        except CallError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # one bad call must never stop the application
            return {"ok": False, "error": f"bad call: {type(exc).__name__}: {exc}"}


def serve(
    control: str, listen_port: int, ready_fd: int | None, owner_fd: int | None = None
) -> None:
    app = App()
    if owner_fd is not None:
        if select.select([owner_fd], [], [], 0)[0]:
            return  # the owner is already gone
        app.sel.register(owner_fd, selectors.EVENT_READ, "owner")
    if listen_port:
        app.call_listen(listen_port, backlog=128, auto_accept=True)
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
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})  # setup held them
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    buffers: dict[socket.socket, bytes] = {}
    try:
        while True:
            for key, _ in app.sel.select():
                if key.data == "control":
                    conn, _ = srv.accept()
                    conn.setblocking(False)
                    buffers[conn] = b""
                    app.sel.register(conn, selectors.EVENT_READ, "client")
                elif key.data == "owner":
                    raise _Stop  # the lab's owner is gone: so is its application
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
        reply = json.dumps(app.handle(line)).encode() + b"\n"
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
    try:
        serve(args.control, args.listen, args.ready_fd, args.owner_fd)
    except OSError as exc:
        print(f"tcplab app: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
