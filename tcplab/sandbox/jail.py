"""The sandbox a student's solution runs in, built by a freshly forked process (see zygote.py).

Theory of operation. The zygote forks; the child (stage A, root) joins the run's control groups,
enters the testbed's crafting network namespace, unshares mount, PID, IPC and UTS namespaces and forks
again. That child is PID 1 of the new PID namespace (init, root): it builds a new root on tmpfs that
holds only what Python needs (read-only binds of /usr, the interpreter and the tcplab package), the
solution in /home/student, a private /tmp, a fresh /proc of its own PID namespace and the socket of the
lab's application proxy; it pivots into it, sets resource limits and forks the student's process,
which drops to an unprivileged uid with CAP_NET_RAW only (raw sockets in its own namespace and nothing
else), takes a fresh session keyring and empties its uid's user keyrings, loads the system-call
filter (seccomp.py: no namespaces, keyrings, mounts, tracing, kernel modules...) and runs the solution
with the modules the zygote already loaded. When the student's process ends, init reports its status
and exits, and the kernel kills whatever else is left in the PID namespace: a daemon cannot outlive
its run.

Nothing outlives the grader either: stage A gets SIGKILL when the zygote ends, init when stage A ends
(PR_SET_PDEATHSIG, each checked against a parent that was already gone), and the zygote ends with
the grader (see zygote.py); init's death ends the PID namespace and with it the student's processes.

Status goes to the grader as JSON lines on file descriptor 3, never through what the student prints.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import runpy
import select
import shutil
import signal
import sys
import threading
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from tcplab import linux
from tcplab.sandbox import seccomp

STATUS_FD = 3
HOME = "/home/student"
LAB_DIR = "/run/lab"  # the application proxy's socket, inside the jail
HOSTNAME = "sandbox"
ETC_FILES = (
    "protocols", "services", "ethertypes", "nsswitch.conf", "host.conf", "ld.so.cache",
    "ld.so.conf", "localtime",
)  # fmt: skip
DEVICES = ("null", "zero", "full", "random", "urandom")
TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
RO = linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV


@dataclass
class Job:
    """Everything a sandboxed run needs, sent to the zygote as JSON."""

    tag: str
    netns: str  # /run/netns/NAME of the crafting namespace
    cgroup_procs: list[str]  # cgroup.procs files to join
    root: str  # an empty directory: the mount point of the jail's root
    solution: str  # the grader's copy of the solution
    filename: str  # its name inside the jail (in /home/student)
    lab_dir: str  # the directory holding the proxy's socket, bound at /run/lab
    uid: int
    gid: int
    iface: str
    env: dict[str, str] = field(default_factory=dict)
    cpu_s: int = 30
    fsize: int = 8 << 20
    nofile: int = 256
    nproc: int = 64
    tmp_size: int = 16 << 20
    binds: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _status(**event: Any) -> None:
    with contextlib.suppress(OSError):
        os.write(STATUS_FD, json.dumps(event).encode() + b"\n")


def _fail(where: str, exc: BaseException) -> NoReturn:
    _status(error=f"{where}: {exc}")
    os._exit(125)


def start(job: Job, fds: list[int]) -> int:
    """Fork stage A with `fds` (stdout, stderr, status) as its 1, 2 and 3; return its pid."""
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            linux.die_with_parent(zygote)
            _stage_a(job, fds)
        finally:
            os._exit(125)
    return pid


def _stage_a(job: Job, fds: list[int]) -> NoReturn:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    devnull = os.open("/dev/null", os.O_RDONLY)
    for target, fd in zip((0, 1, 2, STATUS_FD), (devnull, *fds), strict=True):
        os.dup2(fd, target)
    os.closerange(STATUS_FD + 1, 1 << 16)
    os.setsid()
    try:
        for procs in job.cgroup_procs:
            Path(procs).write_text(str(os.getpid()))
        netns = os.open(job.netns, os.O_RDONLY | os.O_CLOEXEC)
        linux.setns_net(netns)
        os.close(netns)
        linux.unshare(
            linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
        )
        alive_r, alive_w = os.pipe()  # stage A holds the write end while it lives
        init = os.fork()
    except BaseException as exc:
        _fail("sandbox", exc)
    if init == 0:
        os.close(alive_w)
        _init(job, alive_r)
    os.close(alive_r)
    while True:
        try:
            _, status = os.waitpid(init, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(0)
        if os.WIFSIGNALED(status):
            _status(init_signal=os.WTERMSIG(status))
        os._exit(0)


def _init(job: Job, alive: int) -> NoReturn:
    """PID 1 of the jail: build the root, start the student's process, reap, report. It dies
    with stage A (which dies with the zygote, which dies with the grader), and the kernel then
    kills everything in its PID namespace."""
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        # getppid() is 0 across the PID namespace boundary: stage A's pipe tells whether it
        # ended before the line above took effect (end of file: every write end is closed)
        if select.select([alive], [], [], 0)[0]:
            os._exit(137)
        os.close(alive)
        _build_root(job)
        linux.sethostname(HOSTNAME)
        _set_limits(job)
        with contextlib.suppress(OSError):
            Path("/proc/self/oom_score_adj").write_text("-1000")
        student = os.fork()
    except BaseException as exc:
        _fail("sandbox", exc)
    if student == 0:
        _student(job)
    _status(started=True)
    while True:
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(0)
        if pid == student:
            if os.WIFSIGNALED(status):
                _status(signal=os.WTERMSIG(status))
            else:
                _status(exit=os.WEXITSTATUS(status))
            os._exit(0)  # the kernel now kills everything left in this PID namespace


def _bind(source: str, target: Path, flags: int = RO) -> None:
    if Path(source).is_dir():
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    linux.mount(source, str(target), None, linux.MS_BIND | linux.MS_REC)
    linux.mount(None, str(target), None, linux.MS_REMOUNT | linux.MS_BIND | flags)


def _tmpfs(target: Path, options: str, flags: int = linux.MS_NOSUID | linux.MS_NODEV) -> None:
    target.mkdir(parents=True, exist_ok=True)
    linux.mount("tcplab-sandbox", str(target), "tmpfs", flags, options)


def _build_root(job: Job) -> None:
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    root = Path(job.root)
    _tmpfs(root, "size=4m,mode=0755")
    for top in TOP_LINKS:
        path = Path("/") / top
        if path.is_symlink():
            (root / top).symlink_to(os.readlink(path))
        elif path.is_dir():
            _bind(str(path), root / top)
    _bind("/usr", root / "usr")
    for extra in job.binds:  # "PATH": bound read-only; "hide:PATH": an empty read-only tmpfs on it
        if extra.startswith("hide:"):
            _tmpfs(root / extra[5:].lstrip("/"), "size=4k,mode=0555", RO)
        else:
            _bind(extra, root / extra.lstrip("/"))
    _etc(job, root / "etc")
    _dev(root / "dev")
    (root / "proc").mkdir()
    linux.mount(
        "proc", str(root / "proc"), "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    )
    _tmpfs(root / "tmp", f"size={job.tmp_size},mode=1777")
    home = root / HOME.lstrip("/")
    _tmpfs(home, f"size={job.tmp_size},mode=0755,uid={job.uid},gid={job.gid}")
    target = home / job.filename
    shutil.copyfile(job.solution, target)
    os.chmod(target, 0o644)
    _bind(job.lab_dir, root / LAB_DIR.lstrip("/"))  # read-only: a socket still connects
    os.chdir(root)
    (root / ".old").mkdir()
    linux.pivot_root(".", ".old")
    os.chdir("/")
    linux.umount("/.old", linux.MNT_DETACH)
    os.rmdir("/.old")
    linux.mount(None, "/", None, linux.MS_REMOUNT | RO)


def _etc(job: Job, etc: Path) -> None:
    etc.mkdir()
    for name in ETC_FILES:
        if Path("/etc", name).is_file():
            _bind(f"/etc/{name}", etc / name)
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"student:x:{job.uid}:{job.gid}:student:{HOME}:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nstudent:x:{job.gid}:\n")
    (etc / "hostname").write_text(f"{HOSTNAME}\n")
    (etc / "hosts").write_text(f"127.0.0.1 localhost {HOSTNAME}\n")
    (etc / "resolv.conf").write_text("")


def _dev(dev: Path) -> None:
    _tmpfs(dev, "size=64k,mode=0755", linux.MS_NOSUID)
    for name in DEVICES:
        _bind(f"/dev/{name}", dev / name, linux.MS_NOSUID)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        (dev / name).symlink_to(target)
    _tmpfs(dev / "shm", "size=1m,mode=1777", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)


def _set_limits(job: Job) -> None:
    limits = {
        resource.RLIMIT_CPU: (job.cpu_s, job.cpu_s + 1),
        resource.RLIMIT_FSIZE: (job.fsize, job.fsize),
        resource.RLIMIT_NOFILE: (job.nofile, job.nofile),
        resource.RLIMIT_NPROC: (job.nproc + 16, job.nproc + 16),  # the pids cgroup binds first
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_MEMLOCK: (0, 0),
        resource.RLIMIT_MSGQUEUE: (0, 0),
    }
    for kind, value in limits.items():
        resource.setrlimit(kind, value)


def _student(job: Job) -> NoReturn:
    """The student's process: drop to the sandbox user, then run the solution."""
    try:
        Path("/proc/self/oom_score_adj").write_text("1000")
        linux.drop_to(job.uid, job.gid)
        linux.fresh_keyrings()  # nothing a former user of this uid left, nor the grader's
        os.chdir(HOME)
        os.environ.clear()
        os.environ.update(job.env)
        _refresh_scapy(job.iface)
        seccomp.install()  # last: what the solution runs with, inherited by all it starts
        os.close(STATUS_FD)
    except BaseException as exc:
        _fail("sandbox", exc)
    path = f"{HOME}/{job.filename}"
    sys.argv = [path]
    sys.path.insert(0, HOME)
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os._exit(_run(path))


def _refresh_scapy(iface: str) -> None:
    """The zygote loaded scapy in the grader's namespace: make it see this one's interfaces."""
    scapy_config = sys.modules.get("scapy.config")
    if scapy_config is None:
        return
    conf = scapy_config.conf
    conf.ifaces.reload()
    conf.route.resync()
    if getattr(conf, "route6", None) is not None:
        with contextlib.suppress(Exception):
            conf.route6.resync()
    conf.iface = iface


def _run(path: str) -> int:
    """Run the file as __main__ and end the way `python FILE` would; the exit status."""
    return run_main(path)[0]


def run_main(path: str) -> tuple[int, bool]:
    """Run the file as __main__ and wind down as `python FILE` does (its threads, its atexit
    functions, its streams): the exit status, and whether a KeyboardInterrupt ended it."""
    code, interrupted = 0, False
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException as exc:
        _print_traceback(exc, path)
        code, interrupted = 1, isinstance(exc, KeyboardInterrupt)
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # wait for non-daemon threads
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
        code = code or 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code, interrupted


def _print_traceback(exc: BaseException, path: str) -> None:
    """The traceback as `python FILE` prints it: from the solution's first frame on, without the
    sandbox's own frames (a SyntaxError has none of the solution's)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != path:
        tb = tb.tb_next
    if tb is None:
        lines = traceback.format_exception_only(type(exc), exc)
    else:
        lines = traceback.format_exception(type(exc), exc, tb)
    with contextlib.suppress(Exception):
        sys.stderr.write("".join(lines))


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    with contextlib.suppress(Exception):
        print(value, file=sys.stderr)
    return 1
