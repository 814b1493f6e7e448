"""Control groups for one sandboxed run: a memory cap, a process cap, CPU accounting and a way to
kill every process of the run, on cgroup v1 (one hierarchy per controller, as on hybrid systems) and
cgroup v2 (the unified hierarchy).

A group is named `tcplab-<tag>` and sits at the top of each hierarchy tcplab uses, so cleanup knows
exactly what is tcplab's: `names()` lists them, and reaper.py removes those whose runs have ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _

ROOT = Path("/sys/fs/cgroup")
PREFIX = "tcplab-"
V1_CONTROLLERS = ("memory", "pids", "cpuacct")


@dataclass
class Usage:
    """What a run used, read from its group before removal."""

    cpu_s: float
    peak_memory: int  # bytes
    oom_kills: int  # processes the kernel's OOM killer ended at the memory cap (exact, v1 and v2)
    pids_refused: int  # forks refused at the process cap


def unified() -> bool:
    """True when /sys/fs/cgroup is the cgroup v2 hierarchy itself."""
    return (ROOT / "cgroup.controllers").is_file()


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise EnvironmentProblem(
            _("cannot write {strip!r} to {path}: {strerror}").format(
                strip=value.strip(), path=path, strerror=exc.strerror
            ),
            _("tcplab grade needs root and the memory and pids cgroup controllers"),
        ) from exc


def _read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _keyed(path: Path) -> dict[str, int]:
    """A flat-keyed cgroup file ("key value" per line)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _unused, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[key] = int(value)
    return out


class Cgroup:
    """One run's group: created by `create`, joined by the sandbox, read by `usage`, removed by
    `remove` (which kills whatever is still inside)."""

    def __init__(self, tag: str) -> None:
        self.name = PREFIX + tag
        self.v2 = unified()
        if self.v2:
            self.dirs = [ROOT / self.name]
        else:
            self.dirs = [ROOT / c / self.name for c in V1_CONTROLLERS]

    def _dir(self, controller: str) -> Path:
        if self.v2:
            return self.dirs[0]
        return ROOT / controller / self.name

    def create(self, memory: int | None, pids: int | None) -> None:
        """Make the group with a memory cap (bytes, no swap) and a process cap; None: no caps
        (a group only to find and kill every process of a run)."""
        if memory is None or pids is None:
            self._make()
            return
        if self.v2:
            self._enable_v2_controllers()
        else:
            missing = [c for c in V1_CONTROLLERS if not (ROOT / c).is_dir()]
            if missing:
                raise EnvironmentProblem(
                    _("the cgroup v1 controllers {controllers} are not mounted").format(
                        controllers=", ".join(missing)
                    ),
                    _("mount them under /sys/fs/cgroup, or boot with the unified hierarchy"),
                )
        self._make()
        try:
            self._limit(memory, pids)
        except EnvironmentProblem:
            self.remove()
            raise

    def _make(self) -> None:
        try:
            for d in self.dirs:
                d.mkdir()
        except OSError as exc:
            self.remove()
            raise EnvironmentProblem(
                _("cannot create the control group {name}: {strerror}").format(
                    name=self.name, strerror=exc.strerror
                ),
                _("tcplab grade needs root and a writable /sys/fs/cgroup"),
            ) from exc

    def _limit(self, memory: int, pids: int) -> None:
        mem, pid = self._dir("memory"), self._dir("pids")
        if self.v2:
            _write(mem / "memory.max", str(memory))
            if (mem / "memory.swap.max").exists():
                _write(mem / "memory.swap.max", "0")
            _write(pid / "pids.max", str(pids))
            return
        _write(mem / "memory.limit_in_bytes", str(memory))
        memsw = mem / "memory.memsw.limit_in_bytes"
        if memsw.exists():  # only with swap accounting; the limit above then covers swap too
            with contextlib.suppress(EnvironmentProblem):
                _write(memsw, str(memory))
        with contextlib.suppress(EnvironmentProblem):
            _write(mem / "memory.swappiness", "0")
        _write(pid / "pids.max", str(pids))

    @staticmethod
    def _enable_v2_controllers() -> None:
        wanted = {"memory", "pids"}
        have = set((ROOT / "cgroup.controllers").read_text().split())
        if not wanted <= have:
            raise EnvironmentProblem(
                _("the cgroup v2 controllers {controllers} are not available").format(
                    controllers=", ".join(sorted(wanted - have))
                ),
                _("enable them in the kernel (cgroup_enable=memory) and reboot"),
            )
        enabled = set((ROOT / "cgroup.subtree_control").read_text().split())
        for c in sorted(wanted - enabled):
            _write(ROOT / "cgroup.subtree_control", f"+{c}")

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs)

    def age(self) -> float:
        """Seconds since the group was made (its oldest directory); 0 when it is gone."""
        times = []
        for d in self.dirs:
            with contextlib.suppress(OSError):
                times.append(d.stat().st_mtime)
        return time.time() - min(times) if times else 0.0

    def procs_files(self) -> list[str]:
        """The cgroup.procs files a process writes its pid to, to join the group."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def join(self, pid: int) -> None:
        """Move process `pid` (and so everything it starts later) into the group."""
        for d in self.dirs:
            _write(d / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return sorted(out)

    def kill(self, timeout: float = 5.0) -> bool:
        """SIGKILL everything in the group until it is empty; False if it would not empty."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            kill_file = self.dirs[0] / "cgroup.kill"
            if self.v2 and kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            for p in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p, signal.SIGKILL)
            time.sleep(0.005)

    def usage(self) -> Usage:
        mem, pid, cpu = self._dir("memory"), self._dir("pids"), self._dir("cpuacct")
        if self.v2:
            events = _keyed(mem / "memory.events")
            peak = _read_int(mem / "memory.peak", _read_int(mem / "memory.current"))
            cpu_s = _keyed(cpu / "cpu.stat").get("usage_usec", 0) / 1e6
            return Usage(
                cpu_s, peak, events.get("oom_kill", 0), _keyed(pid / "pids.events").get("max", 0)
            )
        return Usage(
            _read_int(cpu / "cpuacct.usage") / 1e9,
            _read_int(mem / "memory.max_usage_in_bytes"),
            _keyed(mem / "memory.oom_control").get("oom_kill", 0),
            _keyed(pid / "pids.events").get("max", 0),
        )

    def remove(self) -> bool:
        """Kill what is left and remove the group's directories; True when all are gone."""
        self.kill()
        gone = True
        for d in self.dirs:
            for _unused in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last exiting task is still being released
                    time.sleep(0.01)
            else:
                gone = False
        return gone


def names() -> list[str]:
    """Every tcplab group, by name, in any hierarchy tcplab uses."""
    parents = [ROOT] if unified() else [ROOT / c for c in V1_CONTROLLERS]
    found: set[str] = set()
    for parent in parents:
        with contextlib.suppress(OSError):
            for d in parent.iterdir():
                if d.name.startswith(PREFIX) and d.is_dir() and not d.is_symlink():
                    found.add(d.name)
    return sorted(found)
