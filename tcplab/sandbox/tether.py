"""Running a program outside the sandbox (`lab check` runs the student's own file as root) so that
nothing of it outlives tcplab: it gets SIGKILL when tcplab dies, and everything it starts stays in a
claimed control group that tcplab empties when the run ends, or that the next tcplab command empties
(reaper.py) when tcplab was killed.

    python -m tcplab.sandbox.tether PARENT_PID [CGROUP_PROCS ...] -- PROGRAM [ARG ...]

The tether sets its parent-death signal (kept across execve for a program that is not set-uid),
checks that its parent is still the one that started it, joins the groups and only then becomes the
program: no process of the run exists outside the group, even for an instant.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tcplab.errors import EnvironmentProblem
from tcplab.sandbox.cgroup import Cgroup
from tcplab.sandbox.reaper import claim


def command(argv: list[str], procs: list[str]) -> list[str]:
    """`argv` as a command that dies with this process and starts in the groups of `procs`."""
    return [sys.executable, "-m", "tcplab.sandbox.tether", str(os.getpid()), *procs, "--", *argv]


@dataclass
class Watch:
    """A run's control group: `procs` for `command`, `kill` to end all its processes."""

    procs: list[str]
    group: Cgroup | None = None

    def kill(self) -> None:
        if self.group is not None:
            self.group.kill()


@contextlib.contextmanager
def watched(tag: str) -> Iterator[Watch]:
    """A claimed control group without limits, for one run. Where control groups cannot be made
    it has no files (then only the parent-death signal holds). On leaving, every process still
    in the group is killed and the group removed."""
    with claim(tag):
        group = Cgroup(tag)
        try:
            group.create(None, None)
        except EnvironmentProblem:
            yield Watch([])
            return
        try:
            yield Watch(group.procs_files(), group)
        finally:
            group.remove()


def main(args: list[str]) -> None:
    from tcplab import linux

    parent, rest = int(args[0]), args[1:]
    split = rest.index("--")
    program = rest[split + 1 :]
    linux.die_with_parent(parent)
    try:
        for procs in rest[:split]:
            Path(procs).write_text(str(os.getpid()))
        os.execv(program[0], program)
    except OSError as exc:
        sys.stderr.write(f"tcplab: cannot start {program[0]}: {exc}\n")
        os._exit(125)


if __name__ == "__main__":
    main(sys.argv[1:])
