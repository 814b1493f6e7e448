"""Talking to the kernel-side application over its root-only Unix control socket."""

from __future__ import annotations

import json
import socket
from typing import Any

from tcplab.errors import EnvironmentProblem


class AppError(Exception):
    """The application refused a call (e.g. listen on a port in use); the message says why."""


class AppClient:
    """One connection to the application; calls are JSON lines, answered in order."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise EnvironmentProblem(
                f"the kernel-side application does not answer at {path}: {exc.strerror}",
                "run 'sudo tcplab setup' again to restart it",
            ) from exc
        self._buf = b""

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        try:
            self.sock.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
            while b"\n" not in self._buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                self._buf += chunk
        except OSError as exc:
            raise EnvironmentProblem(
                f"the kernel-side application stopped answering ({exc})",
                "run 'sudo tcplab status' to see it, 'sudo tcplab setup' to restart it",
            ) from exc
        line, self._buf = self._buf.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        if not reply.pop("ok", False):
            raise AppError(reply.get("error", "unknown error"))
        return reply

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
