"""Talking to the kernel-side application over its root-only Unix control socket (or, for a graded
solution, the grading proxy's socket): typed calls in, typed replies out (tcplab.app.protocol)."""

from __future__ import annotations

import socket
from typing import Any, TypeVar

from tcplab.app.protocol import AppError, Call, Error, Reply, decode_reply, encode_call
from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _

__all__ = ["AppClient", "AppError"]

R = TypeVar("R", bound=Reply)


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
                _("the kernel-side application does not answer at {path}: {strerror}").format(
                    path=path, strerror=exc.strerror
                ),
                _("run 'sudo tcplab setup' again to restart it"),
            ) from exc
        self._buf = b""

    def call(self, req: Call[R]) -> R:
        """Make the call; its reply, or AppError with the application's typed Error."""
        line = self.exchange(encode_call(req))
        try:
            reply = decode_reply(req, line)
        except ValueError as exc:
            raise EnvironmentProblem(
                _("the kernel-side application's answer to {op} is not understood: {exc}").format(
                    op=req.op, exc=exc
                ),
                _("run 'sudo tcplab setup' to restart it"),
            ) from exc
        if isinstance(reply, Error):
            raise AppError(reply)
        return reply

    def exchange(self, line: bytes) -> bytes:
        """Send one line as it is, return the answering line (for tests: malformed calls too)."""
        try:
            self.sock.sendall(line)
            while b"\n" not in self._buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                self._buf += chunk
        except OSError as exc:
            raise EnvironmentProblem(
                _("the kernel-side application stopped answering ({exc})").format(exc=exc),
                _("run 'sudo tcplab status' to see it, 'sudo tcplab setup' to restart it"),
            ) from exc
        answer, self._buf = self._buf.split(b"\n", 1)
        return answer

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
