"""The application proxy: a sandboxed solution's only way to ask the kernel host's application for a
socket call (lab.app_close(), app_send()...). The application's own control socket is root's; the
proxy listens on a socket the sandbox user may use and passes on only the calls the student API
makes, with checked arguments, a size cap and a call budget.

Everything is bounded per submission: at most MAX_CONNECTIONS connections are served at once, by a
fixed pool of as many threads (one more accepts); a connection past that, or past MAX_ACCEPTED in
all, is answered with one refusal line and closed at once. A solution that opens a thousand
connections costs the grader nine threads and a few file descriptors, not a thousand.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tcplab.app.client import AppClient, AppError
from tcplab.errors import TcplabError

MAX_LINE = 256 << 10
MAX_CALLS = 5000
MAX_LISTENERS = 8
MAX_CONNECTIONS = 8  # served at once
MAX_ACCEPTED = 10_000  # in all, over the run
BACKLOG = 16
MAX_LINGERING = 64  # refused connections kept open a moment, so their call can still be written
LINGER_S = 1.0
ALLOWED = {
    "accepted": {"port"},
    "list": set(),
    "close": {"id"},
    "shutdown": {"id", "how"},
    "abort": {"id"},
    "send": {"id", "data"},
    "recv": {"id", "timeout"},
    "connect": {"addr", "port"},
    "listen": {"port", "backlog"},
}


class Refused(Exception):
    pass


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
                why = f"more than {MAX_ACCEPTED} connections to the application in all"
            elif len(self.active) >= MAX_CONNECTIONS:
                why = f"more than {MAX_CONNECTIONS} connections to the application at once"
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
            conn.send(json.dumps({"ok": False, "error": why}).encode() + b"\n")
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
                try:
                    if len(line) > MAX_LINE:
                        raise Refused(f"a call longer than {MAX_LINE} bytes")
                    op, args = self._checked(json.loads(line))
                    if app is None:
                        app = stack.enter_context(AppClient(self.upstream))
                    reply = {"ok": True, **app.call(op, **args)}
                except (Refused, AppError, ValueError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                except TcplabError as exc:
                    reply = {"ok": False, "error": exc.message}
                wfile.write(json.dumps(reply).encode() + b"\n")
                wfile.flush()

    def _checked(self, call: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(call, dict):
            raise Refused("a call is a JSON object")
        op = call.pop("op", None)
        if op not in ALLOWED:
            raise Refused(f"the application does not offer {op!r} to solutions")
        extra = set(call) - ALLOWED[op]
        if extra:
            raise Refused(f"{op}: unknown arguments {sorted(extra)}")
        with self.lock:
            self.calls += 1
            if self.calls > MAX_CALLS:
                raise Refused(f"more than {MAX_CALLS} calls to the application")
            if op == "listen":
                self.listeners += 1
                if self.listeners > MAX_LISTENERS:
                    raise Refused(f"more than {MAX_LISTENERS} listeners")
        if op == "connect" and call.get("addr") != self.crafting_addr:
            raise Refused("the application connects only to the crafting host")
        if op == "recv":
            call["timeout"] = min(float(call.get("timeout", 1.0)), 2.0)
        return op, call

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
