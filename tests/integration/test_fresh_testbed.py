"""fresh_testbed, the testbed around one run (`run`, `lab check`, `grade`): built under a name that says
what made it, owned by this process, and gone afterwards however the run ends."""

from __future__ import annotations

import os

import pytest

from tcplab.defaults import TEST_PREFIX
from tcplab.netns.fresh import fresh_testbed
from tcplab.netns.record import TestbedRecord, find_record
from tcplab.netns.topology import healthy
from tests.conftest import CREATED

pytestmark = pytest.mark.netns


class Boom(Exception):
    pass


def gone(rec: TestbedRecord) -> list[str]:
    """What of the lab is still there (nothing, once it is removed)."""
    names = (rec.spec.crafting, rec.spec.kernel)
    left = [n for n in names if os.path.exists(f"/run/netns/{n}")]
    return left + (["record"] if find_record(rec.spec.crafting) is not None else [])


def test_a_fresh_testbed_is_whole_ours_and_removed_after_the_run() -> None:
    with fresh_testbed(TEST_PREFIX, port=7790, listen=False) as rec:
        CREATED.update((rec.spec.crafting, rec.spec.kernel))
        assert rec.spec.crafting.startswith(TEST_PREFIX) and rec.spec.port == 7790
        assert not rec.spec.listen and healthy(rec)
        assert rec.owner is not None and rec.owner.pid == os.getpid()  # reaped if we are killed
    assert gone(rec) == []


@pytest.mark.parametrize("ending", [Boom, KeyboardInterrupt])
def test_a_fresh_testbed_is_removed_when_the_run_fails_or_is_interrupted(
    ending: type[BaseException],
) -> None:
    seen: list[TestbedRecord] = []
    with pytest.raises(ending), fresh_testbed(TEST_PREFIX) as rec:
        seen.append(rec)
        CREATED.update((rec.spec.crafting, rec.spec.kernel))
        raise ending()
    assert len(seen) == 1 and gone(seen[0]) == []
