"""The application proxy: a sandboxed solution's only way to ask the kernel host's application for a
socket call (lab.app_close(), app_send()...). The application's own control socket is root's; the
proxy listens on a socket the sandbox user may use and passes on only the calls the student API
makes, with checked arguments, a size cap and a call budget.
"""

from __future__ import annotations

import contextlib
import json
import os
import socketserver
import threading
from pathlib import Path
from typing import Any

from tcplab.app.client import AppClient, AppError
from tcplab.errors import TcplabError

MAX_LINE = 256 << 10
MAX_CALLS = 5000
MAX_LISTENERS = 8
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
        self.lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.rfile, self.wfile)

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True
            request_queue_size = 16

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a solution hanging up mid-call is its own business

        self.server = Server(str(path), Handler)
        os.chown(path, uid, uid)
        os.chmod(path, 0o600)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def _serve(self, rfile: Any, wfile: Any) -> None:
        with contextlib.ExitStack() as stack:
            app: AppClient | None = None
            while True:
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
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
