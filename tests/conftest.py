"""Shared fixtures: uniquely named real testbeds, and the rule that namespace tests run under CI=true.

Outside root the `netns` tests skip with a reason; under CI=true they must run, so there they fail
loudly instead. Every testbed a test builds is removed in `finally`, tolerating what is already gone, and
the session ends by checking that no test namespace is left.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tcplab.defaults import TEST_PREFIX

# No test is timed (speed is measured in bench/): Hypothesis's per-example deadline would fail a
# property on a busy machine, not on a wrong answer.
settings.register_profile("tcplab", deadline=None)
settings.load_profile("tcplab")

REPO = Path(__file__).resolve().parents[1]
# Tests speak English whatever the machine's locale (a test of another language asks for it:
# --lang, or TCPLAB_LANG in its own process's environment)
os.environ["TCPLAB_LANG"] = "en"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True, scope="session")
def _own_hint_attempts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`lab check` counts failed attempts per check for its hint tiers: tests keep theirs apart
    from the user's (~/.local/state/tcplab), in one folder for the session."""
    old = os.environ.get("TCPLAB_STATE_DIR")
    os.environ["TCPLAB_STATE_DIR"] = str(tmp_path_factory.mktemp("tcplab-state"))
    yield
    if old is None:
        os.environ.pop("TCPLAB_STATE_DIR", None)
    else:
        os.environ["TCPLAB_STATE_DIR"] = old


@pytest.fixture
def chinese() -> Iterator[None]:
    """The test speaks zh_CN in this process; English again afterwards, whatever happens."""
    from tcplab import i18n

    i18n.set_language("zh_CN")
    try:
        yield
    finally:
        i18n.set_language(i18n.ENGLISH)


@functools.cache
def catalog_tool() -> Any:
    """scripts/catalog.py (the catalog's extract, check and placeholders), loaded as a module."""
    spec = importlib.util.spec_from_file_location("catalog_tool", REPO / "scripts" / "catalog.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["catalog_tool"] = module
    spec.loader.exec_module(module)
    return module


def _netns_problem() -> str | None:
    if os.geteuid() != 0:
        return "namespace tests need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"namespace tests need the {tool} command"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = _netns_problem()
    if problem is None:
        return
    for item in items:
        if "netns" in item.keywords:
            if IN_CI:
                raise pytest.UsageError(f"CI=true but {problem}: namespace tests cannot run")
            item.add_marker(pytest.mark.skip(reason=problem))


CREATED: set[str] = set()  # every name this run handed out: only these are checked at the end


def unique_names() -> tuple[str, str]:
    from tcplab.netns.fresh import unique_names as fresh_names

    names = fresh_names(TEST_PREFIX)
    CREATED.update(names)
    return names


def remove_testbed(crafting: str, kernel: str) -> None:
    """Tear a test testbed down through tcplab, then make sure its namespaces are gone."""
    from tcplab.netns.record import find_record
    from tcplab.netns.topology import teardown

    rec = find_record(crafting)
    try:
        if rec is not None:
            teardown(rec)
    finally:
        for name in (crafting, kernel):
            if os.path.exists(f"/run/netns/{name}"):
                subprocess.run(["ip", "netns", "del", name], check=False)
        subprocess.run(["pkill", "-f", f"labs/{crafting}/app.sock"], check=False)


@pytest.fixture
def lab() -> Iterator[TestbedSpec]:  # noqa: F821
    """A fresh, uniquely named testbed (crafting, kernel), removed afterwards whatever happens."""
    from tcplab.netns.record import TestbedSpec
    from tcplab.netns.topology import setup

    crafting, kernel = unique_names()
    spec = TestbedSpec(crafting=crafting, kernel=kernel)
    try:
        setup(spec)
        yield spec
    finally:
        remove_testbed(crafting, kernel)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m tcplab ARGS` as a real process, as a user would. Its environment is
    os.environ (or `env`), never the C-level one: readline, once loaded in this process, sets
    COLUMNS and LINES there, and output would be wrapped as if for a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "tcplab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ) if env is None else env,
        cwd=REPO,
        check=False,
    )


def _app_processes() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "tcplab.app.server"], capture_output=True, text=True)
    return out.stdout.splitlines()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _netns_problem() is not None:
        return
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left = [line.split()[0] for line in out.splitlines() if line.split()[0] in CREATED]
    labs = Path("/run/tcplab/labs")
    if labs.is_dir():
        left += [f"record {p.name}" for p in labs.iterdir() if p.name in CREATED]
    gone = [p for p in _app_processes() if any(name in p for name in CREATED)]
    left += [f"process {p}" for p in gone]
    if left:
        for name in left:
            if name in CREATED:
                subprocess.run(["ip", "netns", "del", name], check=False)
        print(f"\nLEFTOVER test namespaces removed after the run: {left}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
