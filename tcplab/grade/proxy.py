"""The application proxy: a sandboxed solution's only way to ask the kernel host's application for a
socket call (lab.app_close(), app_send()...). The application's own control socket is root's; the
proxy listens on a socket the sandbox user may use and passes on only the calls the protocol offers
to solutions (tcplab.app.protocol: `for_solutions`, and of each only the arguments marked
`solutions`), checked and capped there, with a size cap and a call budget here.

Everything is bounded per submission: at most MAX_CONNECTIONS connections are served at once, by a
fixed pool of as many threads (one more accepts); a connection past that, or past MAX_ACCEPTED in
all, is answered with one refusal line and closed at once. A solution that opens a thousand
connections costs the grader nine threads and a few file descriptors, not a thousand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tcplab.app.client import AppClient
from tcplab.app.protocol import (
    CALLS,
    AppError,
    Call,
    Connect,
    Error,
    Listen,
    Reason,
    Reply,
    args_of,
    decode_call,
    encode_reply,
    parse,
    shown,
)
from tcplab.errors import TcplabError
from tcplab.i18n import _

MAX_LINE = 256 << 10
MAX_CALLS = 5000
MAX_LISTENERS = 8
MAX_CONNECTIONS = 8  # served at once
MAX_ACCEPTED = 10_000  # in all, over the run
BACKLOG = 16
MAX_LINGERING = 64  # refused connections kept open a moment, so their call can still be written
LINGER_S = 1.0
OFFERED = {op: cls for op, cls in CALLS.items() if cls.for_solutions}
ALLOWED = {  # op -> the arguments a solution may give
    op: {name for name, (spec, _) in args_of(cls).items() if spec.solutions}
    for op, cls in OFFERED.items()
}


def _refused(why: str) -> AppError:
    return AppError(Error(error=why, reason=Reason.REFUSED))


class Proxy:
    """Serves `path` (owned by `uid`) until closed, forwarding to the application at `upstream`."""

    def __init__(self, path: Path, uid: int, upstream: str, crafting_addr: str) -> None:
        self.upstream, self.crafting_addr = upstream, crafting_addr
        self.calls = 0
        self.listeners = 0
        self.accepted = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.active: set[socket.socket] = set()
        self.closing = threading.Event()
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.server.bind(str(path))
            os.chown(path, uid, uid)
            os.chmod(path, 0o600)
            self.server.listen(BACKLOG)
        except OSError:
            self.server.close()
            raise
        self.server.setblocking(False)
        self.pool = ThreadPoolExecutor(MAX_CONNECTIONS, thread_name_prefix="tcplab-proxy")
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self) -> None:
        """Accept, admit or refuse; refused connections linger here (a refusal line sent, reads
        drained) until the client hangs up or LINGER_S passes, so a client that writes its call
        after the refusal is not hit by EPIPE. At most MAX_LINGERING at once; past that, closed."""
        lingering: dict[socket.socket, float] = {}
        with selectors.DefaultSelector() as sel:
            sel.register(self.server, selectors.EVENT_READ)
            while not self.closing.is_set():
                for key, _ in sel.select(timeout=0.02):
                    if key.fileobj is self.server:
                        with contextlib.suppress(BlockingIOError, InterruptedError):
                            conn, _ = self.server.accept()
                            self._admit(conn, sel, lingering)
                    else:
                        _drain(key.fileobj, sel, lingering)  # type: ignore[arg-type]
                now = time.monotonic()
                for conn in [c for c, t in lingering.items() if t < now]:
                    _hang_up(conn, sel, lingering)
            for conn in list(lingering):
                _hang_up(conn, sel, lingering)

    def _admit(
        self,
        conn: socket.socket,
        sel: selectors.BaseSelector,
        lingering: dict[socket.socket, float],
    ) -> None:
        with self.lock:
            self.accepted += 1
            if self.accepted > MAX_ACCEPTED:
                why = _("more than {n} connections to the application in all").format(
                    n=MAX_ACCEPTED
                )
            elif len(self.active) >= MAX_CONNECTIONS:
                why = _("more than {n} connections to the application at once").format(
                    n=MAX_CONNECTIONS
                )
            else:
                self.active.add(conn)
                why = ""
        if not why:
            conn.setblocking(True)
            self.pool.submit(self._handle, conn)
            return
        self.refused += 1
        with contextlib.suppress(OSError):
            conn.setblocking(False)
            conn.send(encode_reply(Error(error=why, reason=Reason.REFUSED)))
            conn.shutdown(socket.SHUT_WR)
        if len(lingering) >= MAX_LINGERING:
            conn.close()
            return
        lingering[conn] = time.monotonic() + LINGER_S
        sel.register(conn, selectors.EVENT_READ)

    def _handle(self, conn: socket.socket) -> None:
        try:
            with conn.makefile("rb") as rfile, conn.makefile("wb") as wfile:
                self._serve(rfile, wfile)
        except (OSError, ValueError):
            pass  # a solution hanging up mid-call is its own business
        finally:
            with self.lock:
                self.active.discard(conn)
            conn.close()

    def _serve(self, rfile: Any, wfile: Any) -> None:
        with contextlib.ExitStack() as stack:
            app: AppClient | None = None
            while not self.closing.is_set():
                line = rfile.readline(MAX_LINE + 1)
                if not line:
                    return
                reply: Reply
                try:
                    call = self._checked(line)
                    if app is None:
                        app = stack.enter_context(AppClient(self.upstream))
                    reply = app.call(call)
                except AppError as exc:
                    reply = exc.reply
                except TcplabError as exc:
                    reply = Error(error=exc.message, reason=Reason.FAILED)
                wfile.write(encode_reply(reply))
                wfile.flush()

    def _checked(self, line: bytes) -> Call[Any]:
        """The call a solution's line asks for, if it is offered, within the limits and checked
        by the protocol (AppError with the reply otherwise); arguments with a cap are capped."""
        if len(line) > MAX_LINE:
            raise _refused(_("a call longer than {n} bytes").format(n=MAX_LINE))
        data = parse(line)
        if isinstance(data, Error):
            raise AppError(data)
        if not isinstance(data, dict):
            raise _refused(_("a call is a JSON object"))
        op = data.get("op")
        if not isinstance(op, str) or op not in ALLOWED:
            raise _refused(
                _("the application does not offer {op} to solutions").format(op=shown(op))
            )
        extra = set(data) - {"op"} - ALLOWED[op]
        if extra:
            raise _refused(_("{op}: unknown arguments {names}").format(op=op, names=sorted(extra)))
        self._count(op)
        call = decode_call(data, OFFERED)
        if isinstance(call, Error):
            raise AppError(call)
        if isinstance(call, Connect) and call.addr != self.crafting_addr:
            raise _refused(_("the application connects only to the crafting host"))
        return _capped(call)

    def _count(self, op: str) -> None:
        with self.lock:
            self.calls += 1
            if self.calls > MAX_CALLS:
                raise _refused(_("more than {n} calls to the application").format(n=MAX_CALLS))
            if op == Listen.op:
                self.listeners += 1
                if self.listeners > MAX_LISTENERS:
                    raise _refused(_("more than {n} listeners").format(n=MAX_LISTENERS))

    def close(self) -> None:
        """Stop accepting, hang up on every connection and let the pool's threads end."""
        self.closing.set()
        self.thread.join(timeout=5)
        self.server.close()
        with self.lock:
            for conn in self.active:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self.pool.shutdown(wait=False, cancel_futures=True)


def _capped(call: Call[Any]) -> Call[Any]:
    """The call with each argument that has a cap for solutions lowered to it."""
    over = {
        name: spec.cap
        for name, (spec, _) in args_of(type(call)).items()
        if spec.cap is not None and getattr(call, name) > spec.cap
    }
    return dataclasses.replace(call, **over) if over else call


def _drain(
    conn: socket.socket, sel: selectors.BaseSelector, lingering: dict[socket.socket, float]
) -> None:
    try:
        if conn.recv(65536):
            return
    except BlockingIOError:
        return
    except OSError:
        pass
    _hang_up(conn, sel, lingering)


def _hang_up(
    conn: socket.socket, sel: selectors.BaseSelector, lingering: dict[socket.socket, float]
) -> None:
    lingering.pop(conn, None)
    with contextlib.suppress(KeyError, ValueError):
        sel.unregister(conn)
    conn.close()
