"""A warm start for `lab check`: the student's program starts with scapy and tcplab's student API
already loaded, as graded solutions do (zygote.py), instead of spending a second loading them.

Theory of operation. `lab check` starts this process first thing, before it builds the testbed, so
the loading (about a second of CPU) happens while the testbed is built. It is started exactly as
the program itself would be (stdin /dev/null, stdout and stderr the check's pipes, its own session,
the same environment but the lab's context) and then *becomes* the program, in this one process:
told the job on a socket pair, it joins the run's control groups, enters the crafting namespace,
takes the program's folder, environment and argv, lets scapy see that namespace's interfaces and
routes (as an import there would), and runs the file as `python FILE` does. Its exit status is the
program's. Until then it writes nothing: its own output goes to /dev/null.

It dies with `lab check` (PR_SET_PDEATHSIG, as the tether's), and ends at once when `lab check`
closes the socket without a job. `lab check` falls back to a cold start (a fresh `python FILE`)
when the program's folder holds a module named like one this process has loaded (a fresh Python
would import the student's file there), or when this process did not get ready.

    python -m tcplab.sandbox.warm PARENT_PID FD ROOM
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tcplab import child_env

MAX_MESSAGE = 1 << 20
MODULE = "tcplab.sandbox.warm"
ROOM = " " * 4096  # argv room: once it is the program, ps shows `python FILE` in it


@dataclass
class Job:
    """The program's run: where, with what, in which groups."""

    netns: str  # /run/netns/NAME of the crafting namespace
    cgroup_procs: list[str]
    path: str  # the solution, absolute
    env: dict[str, str]
    iface: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()


class WarmStart:
    """`lab check`'s handle on its warm process: started at once, used for one run or closed."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.modules: set[str] | None = None  # top-level names loaded, once it is ready
        try:
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                [sys.executable, "-m", MODULE, str(os.getpid()), str(theirs.fileno()), ROOM],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env(),
                cwd="/",  # `-m` puts the working folder first on sys.path; the job replaces it
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()

    def ready(self, timeout: float) -> bool:
        """Whether it has loaded everything (waits up to `timeout` s)."""
        if self.modules is None:
            self.sock.settimeout(timeout)
            try:
                hello = json.loads(self.sock.recv(MAX_MESSAGE) or b"{}")
            except (OSError, ValueError):
                hello = {}
            if not hello.get("ready"):
                return False
            self.modules = set(hello["modules"])
        return True

    def shadowed(self, folder: Path) -> list[str]:
        """Modules it has loaded that a file or folder beside the program would replace."""
        try:
            names = os.listdir(folder)
        except OSError:
            return ["?"]  # unreadable: let a fresh Python meet it as it is
        found = {n.split(".", 1)[0] for n in names if n.endswith((".py", ".pyc", ".so"))}
        found |= {n for n in names if (folder / n).is_dir()}
        return sorted(found & (self.modules or set()))

    def go(self, job: Job) -> subprocess.Popen[bytes]:
        """Hand it the job: from now on the process is the program."""
        self.sock.settimeout(10.0)
        self.sock.sendall(job.to_json())
        return self.proc

    def close(self) -> None:
        """Without a job it ends; a run that was handed over is its owner's to end."""
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.proc.poll() is None and self.proc.pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.communicate()

    def __enter__(self) -> WarmStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_early: WarmStart | None = None


def start_early() -> None:
    """Start the warm process for this command now (tcplab.launch, before the command line
    loads); `take` hands it to `lab check`. Unused, it dies with this process."""
    global _early
    if _early is None:
        with contextlib.suppress(OSError):
            _early = WarmStart()


def take() -> WarmStart:
    """The warm process started early for this command, or a new one."""
    global _early
    got, _early = _early, None
    return got if got is not None else WarmStart()


# -- the warm process ------------------------------------------------------------------------------
def _quiet() -> tuple[int, int]:
    """Send this process's own output to /dev/null until it becomes the program; the program's
    stdout and stderr are kept aside."""
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    return saved


def _become(job: Job, saved: tuple[int, int]) -> None:
    """Everything `python FILE` in the crafting namespace would start with."""
    from tcplab import linux
    from tcplab.sandbox.jail import _refresh_scapy

    for procs in job.cgroup_procs:
        Path(procs).write_text(str(os.getpid()))
    fd = os.open(job.netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns_net(fd)
    finally:
        os.close(fd)
    folder = os.path.dirname(job.path)
    os.chdir(folder)
    os.environ.clear()
    os.environ.update(job.env)
    _refresh_scapy(job.iface)
    random.seed()  # as fresh as a new interpreter's
    sys.argv = [job.path]
    sys.orig_argv = [sys.executable, job.path]
    with contextlib.suppress(OSError):  # ps shows the program, as for `python FILE`
        linux.set_cmdline(sys.orig_argv)
    sys.path[0] = folder
    sys.stdout.flush()
    sys.stderr.flush()
    for target, fd in zip((1, 2), saved, strict=True):
        os.dup2(fd, target)
        os.close(fd)


def _run(path: str) -> int:
    """Run the file as __main__ and end the way `python FILE` would; the exit status."""
    from tcplab.sandbox.jail import run_main

    code, interrupted = run_main(path)
    if interrupted:  # as Python does: end by the signal, so the parent sees it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def main(args: list[str]) -> None:
    from tcplab import linux
    from tcplab.sandbox.zygote import _preload

    linux.die_with_parent(int(args[0]))
    sock = socket.socket(fileno=int(args[1]))
    saved = _quiet()
    gc.disable()  # a tenth of the loading's CPU goes to collections that find nothing to free
    _preload()
    gc.freeze()  # what was loaded stays out of the program's collections
    gc.enable()
    modules = sorted({name.split(".", 1)[0] for name in sys.modules})
    try:
        sock.sendall(json.dumps({"ready": True, "modules": modules}).encode())
        msg = sock.recv(MAX_MESSAGE)
    except OSError:
        os._exit(0)
    if not msg:
        os._exit(0)
    sock.close()
    try:
        _become(Job(**json.loads(msg)), saved)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.dup2(saved[1], 2)
            os.write(2, f"tcplab: cannot start the program: {exc}\n".encode())
        os._exit(125)
    os._exit(_run(sys.argv[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
