"""tcplab.defaults: the one place for the defaults, the copies that cannot import it held equal to
it, and names for the testbeds of a run that are valid and say what made them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tcplab import defaults
from tcplab.engine.scenario import Scenario
from tcplab.exercise.catalog import LabDef, Listener
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.netns import record as records
from tcplab.netns.fresh import unique_names
from tcplab.netns.record import TestbedSpec, valid_name
from tests.conftest import REPO

PREFIXES = {
    "run": defaults.RUN_PREFIX,
    "check": defaults.CHECK_PREFIX,
    "grade": defaults.GRADE_PREFIX,
    "test": defaults.TEST_PREFIX,
}


def test_the_model_s_default_window_is_the_default_window() -> None:
    # the model imports nothing of tcplab, so Segment repeats the number
    assert Segment(1, 2, Flags.SYN).window == defaults.WINDOW


def test_the_testbed_without_options_is_the_default_testbed() -> None:
    spec = TestbedSpec()
    assert (spec.crafting, spec.kernel, spec.subnet, spec.port) == (
        defaults.CRAFTING, defaults.KERNEL, defaults.SUBNET, defaults.APP_PORT,
    )  # fmt: skip
    assert spec.validate() == spec and f"{spec.kernel}:{spec.port}" == defaults.TARGET
    lab = LabDef("x", REPO, "x", "", 0)
    assert (lab.port, lab.time_limit, Listener(1).backlog) == (
        defaults.APP_PORT, defaults.TIME_LIMIT, defaults.BACKLOG,
    )  # fmt: skip
    assert Scenario("x", REPO, "x", "", ()).port == defaults.APP_PORT


@pytest.mark.parametrize("made_by", sorted(PREFIXES))
def test_a_run_s_namespaces_are_valid_and_name_what_made_them(made_by: str) -> None:
    crafting, kernel = unique_names(PREFIXES[made_by])
    assert crafting.startswith(f"tcplab-{made_by}-") and kernel.startswith(f"tcplab-{made_by}-")
    assert crafting.endswith("-c") and kernel == crafting[:-1] + "k"
    assert valid_name(crafting) == crafting and valid_name(kernel) == kernel
    # the application's control socket (a sun_path holds 107 bytes and a NUL)
    assert len(str(records.testbeds_path() / crafting / "app.sock").encode()) < 108
    assert unique_names(PREFIXES[made_by]) != (crafting, kernel)


def test_no_prefix_begins_another() -> None:
    for a in PREFIXES.values():
        assert [b for b in PREFIXES.values() if b != a and b.startswith(a)] == []


def test_importing_the_defaults_loads_nothing_else_of_tcplab() -> None:
    code = "import sys, tcplab.defaults; print(sorted(m for m in sys.modules if m.startswith('tcplab')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.split() == ["['tcplab',", "'tcplab.defaults']"], out.stderr
