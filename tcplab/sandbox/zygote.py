"""The zygote: one root process per grading run that has loaded Python, scapy and tcplab's student
API once, and forks a jail (jail.py) for each solution. Importing scapy takes about a second of CPU;
forking a process that has done so takes a few milliseconds, so a class of a hundred is graded in
seconds rather than minutes, and every solution starts from the same, untouched copy.

The grader talks to it over a SOCK_SEQPACKET pair: a job (JSON) with three file descriptors (the
solution's stdout, stderr and the status pipe) goes in; the pid of the run's stage A comes back.
The zygote ends when the grader closes its end or dies: the socket reads end of file when the
grader's process is gone, and when the grader started it from its main thread (as `tcplab grade`
does) PR_SET_PDEATHSIG also kills it at once. Every jail's stage A dies with the zygote.

    python -m tcplab.sandbox.zygote FD GRADER_PID TIE
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from tcplab import child_env
from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _

MAX_MESSAGE = 1 << 20
READY_TIMEOUT = 60.0


def binds() -> list[str]:
    """What a jail must see, read-only, besides /usr: the interpreter and the tcplab package.
    The labs' folders (reference solutions, checks) are hidden on top of these by the grader
    ("hide:PATH" entries, see grade.grader.hidden)."""
    import tcplab

    wanted = {
        os.path.realpath(sys.base_prefix),
        os.path.realpath(sys.prefix),
        os.path.realpath(sys.exec_prefix),
        str(Path(tcplab.__file__).resolve().parent),
    }
    # a venv's python is a symlink to the base interpreter; both ends must be visible
    wanted.add(os.path.dirname(os.path.realpath(sys.executable)))
    out: list[str] = []
    for path in sorted(wanted, key=len):
        if path == "/usr" or path.startswith("/usr/"):
            continue
        if not any(path == p or path.startswith(p + "/") for p in out):
            out.append(path)
    return out


def _preload() -> None:
    import scapy.all  # noqa: F401  # the second most of a solution's start-up cost

    import tcplab.student  # noqa: F401
    from tcplab import i18n

    i18n.preload()  # the catalogs, read before the jail hides the package's files


def serve(fd: int, grader: int, tie: bool) -> None:
    """Answer jobs on socket `fd` until the grader (pid `grader`) closes it or dies; `tie`: the
    grader forked this process from its main thread, so the parent-death signal is safe to use
    (it fires when the forking *thread* ends)."""
    from tcplab import linux
    from tcplab.sandbox import jail, seccomp

    if tie:
        linux.die_with_parent(grader)
    elif os.getppid() != grader:
        return
    sock = socket.socket(fileno=fd)
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # stage A processes are reaped by the kernel
    problem = seccomp.available()
    if problem is not None:
        sock.sendall(
            json.dumps({"ready": False, "error": f"no system-call filter: {problem}"}).encode()
        )
        return
    sock.sendall(json.dumps({"ready": True, "binds": binds()}).encode())
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        try:
            msg, fds, _unused, _unused = socket.recv_fds(sock, MAX_MESSAGE, 3)
        except OSError:
            return
        if not msg:
            return
        try:
            job = jail.Job(**json.loads(msg))
            pid = jail.start(job, fds)
            reply: dict[str, Any] = {"pid": pid}
        except Exception as exc:  # a bad job is answered, never the end of the zygote
            reply = {"error": str(exc)}
        finally:
            for f in fds:
                with contextlib.suppress(OSError):
                    os.close(f)
        sock.sendall(json.dumps(reply).encode())


class Zygote:
    """The grader's handle on its zygote; `start` may be called from several threads."""

    def __init__(self, wait: bool = True) -> None:
        """Start the zygote; with `wait`, return once it is ready (else call `ready` before use:
        the grader builds its first testbeds while the zygote imports scapy)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.lock = threading.Lock()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  # closed in close()
        tie = threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tcplab.sandbox.zygote",
                str(theirs.fileno()),
                str(os.getpid()),
                "tie" if tie else "-",
            ],  # fmt: skip
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            env=child_env(),
            cwd="/",  # `-m` puts the working folder first on sys.path: never a student's folder
            start_new_session=True,
        )
        theirs.close()
        self.binds: list[str] = []
        self._ready = False
        self._failed: EnvironmentProblem | None = None
        if wait:
            self.ready()

    def ready(self, timeout: float | None = None) -> bool:
        """Wait until the zygote has said it is ready (at once if it has); with `timeout`, False
        if it has not said so within that many seconds. EnvironmentProblem if it did not start."""
        with self.lock:
            if self._failed is not None:
                raise self._failed
            if self._ready:
                return True
            if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
                return False
            try:
                self._hello()
            except EnvironmentProblem as exc:
                self._failed = exc
                raise
            self._ready = True
            return True

    def _hello(self) -> None:
        self.sock.settimeout(READY_TIMEOUT)
        try:
            hello = json.loads(self.sock.recv(MAX_MESSAGE) or b"{}")
        except (OSError, ValueError):
            hello = {}
        if not hello.get("ready"):
            self.close()
            why = hello.get("error") or self._log_tail() or "no message"
            raise EnvironmentProblem(
                _("the sandbox's zygote did not start: {why}").format(why=why),
                _(
                    "check that scapy imports (python -c 'import scapy.all') and "
                    "libseccomp2 is installed"
                ),
            )
        self.binds = hello["binds"]
        self.sock.settimeout(30.0)

    def _log_tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def start(self, job_json: str, fds: list[int]) -> int:
        """Start a jail for the job; the pid of its stage A."""
        self.ready()
        with self.lock:
            try:
                socket.send_fds(self.sock, [job_json.encode()], fds)
                reply = json.loads(self.sock.recv(MAX_MESSAGE) or b"{}")
            except (OSError, ValueError) as exc:
                raise EnvironmentProblem(
                    _("the sandbox's zygote stopped answering ({exc})").format(exc=exc),
                    _("run tcplab grade again"),
                ) from exc
        if "pid" not in reply:
            raise EnvironmentProblem(
                _("the sandbox's zygote refused a job: {reason}").format(
                    reason=reply.get("error", "no reason")
                ),
                _("run tcplab grade again"),
            )
        return int(reply["pid"])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "tie")
    # nothing is left to finish: skip the interpreter's teardown of scapy's objects, which the
    # grader waited for (0.5-0.9 s) at the end of every class
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
