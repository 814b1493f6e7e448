"""Leftovers of killed runs, removed before a command makes anything new.

A `tcplab run`, `lab check` or `grade` killed outright (SIGKILL, a lost terminal) cannot remove what
it made. What it made says whose it is: an ephemeral testbed's record names its owner process, a sandboxed
run holds a claim (an flock) for its whole life. So the next command that makes a testbed, and
`teardown --all`, find what belongs to no living process and remove exactly that.
"""

from __future__ import annotations

import threading

import typer

from tcplab.i18n import _


def leftovers() -> list[str]:
    """Remove orphaned testbeds, then dead runs' control groups, folders and processes; one line each."""
    from tcplab.netns.topology import reap_orphans
    from tcplab.sandbox.reaper import reap_stale

    return [*reap_orphans(), *reap_stale()]


def tidy() -> None:
    """Remove leftovers and say so on standard error (standard output may be JSON)."""
    for line in leftovers():
        typer.echo(_("tidied: {line}").format(line=line), err=True)


def stop_waiting(stop: threading.Event | None = None) -> None:
    """A command is being stopped: worker threads waiting for the testbed lock give up at once."""
    from tcplab.netns import lock

    lock.cancelled.set()
    if stop is not None:
        stop.set()
