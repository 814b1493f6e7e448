"""A fresh testbed around one run (`tcplab run`, `lab check`, `grade`): uniquely named after the command
that made it, built ephemeral (its record names this process as the owner, so if the process is
killed outright the next tcplab command removes the testbed), and removed when the run ends, whatever
ends it: a return, an exception, Ctrl-C.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tcplab import defaults
from tcplab.netns.record import TestbedRecord, TestbedSpec
from tcplab.netns.topology import setup, teardown


def unique_names(prefix: str) -> tuple[str, str]:
    """(crafting, kernel): PREFIX + 8 random hex digits + "-c" / "-k"."""
    tag = uuid.uuid4().hex[:8]
    return f"{prefix}{tag}-c", f"{prefix}{tag}-k"


@contextmanager
def fresh_testbed(
    prefix: str, port: int = defaults.APP_PORT, listen: bool = True
) -> Iterator[TestbedRecord]:
    """Build a new testbed named PREFIX…, yield its record, remove it on the way out."""
    crafting, kernel = unique_names(prefix)
    spec = TestbedSpec(crafting=crafting, kernel=kernel, port=port, listen=listen)
    rec = None
    try:
        rec, _ = setup(spec, ephemeral=True)
        yield rec
    finally:
        if rec is not None:
            teardown(rec)
