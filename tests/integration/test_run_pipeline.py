"""`tcplab run` as a pipeline (tcplab.engine.batch): testbeds built ahead and removed behind, each
scenario on one of its own, never used before; whatever is built and not used is removed too."""

from __future__ import annotations

import json
import subprocess

import pytest

from tcplab.engine import batch
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.netns


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_testbeds_built_ahead_and_never_used_are_removed() -> None:
    beds = batch.Testbeds([7788] * 5, [4, 3, 2, 1, 0], ahead=2)
    try:
        rec = beds.take(0)  # scenario 4's; 3 and 2 are built meanwhile
        assert {rec.spec.crafting, rec.spec.kernel} <= namespaces()
        beds.remove(rec).result()
    finally:
        beds.close()
    built = [f.result() for f in beds._built.values()]
    assert len(built) == 3
    left = namespaces()
    assert not any({r.spec.crafting, r.spec.kernel} & left for r in built)


def test_each_scenario_runs_on_a_testbed_of_its_own() -> None:
    names = ["passive-open", "active-open", "rst-exact", "syn-to-closed-port", "passive-close"]
    files = [str(REPO / "scenarios" / f"{n}.toml") for n in names]
    out = run_cli("run", *files, "--json", "-j", "2", timeout=300)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert [r["scenario"] for r in results] == names  # in the order given
    testbeds = [r["report"]["crafting"].split()[0] for r in results]
    assert len(set(testbeds)) == len(names)
    assert not set(testbeds) & namespaces()
