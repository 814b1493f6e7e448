"""The layers are held by a tool: `lint-imports` (import-linter, contracts in pyproject.toml) passes on
the real tree, and fails, naming the contract and the import, as soon as a copy of the package gets
one violating import: the model importing scapy, the engine importing the CLI, the lab kit importing
a driver, or a new top-level module that no layer names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the package under `root`, with the pyproject.toml there."""
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy, not the installed package
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def status(report: str, contract: str) -> str:
    """KEPT or BROKEN: what lint-imports's summary says of the contract whose name starts so."""
    summary = " ".join(report.split("Broken contracts")[0].split())  # its lines wrap at 80
    after = summary[summary.index(contract) :]
    found = {word: after.find(f" {word}") for word in ("KEPT", "BROKEN")}
    return min((at, word) for word, at in found.items() if at >= 0)[1]


def test_the_real_tree_keeps_every_contract() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 broken" in done.stdout and "BROKEN" not in done.stdout
    assert status(done.stdout, "tcplab's layers") == "KEPT"


@pytest.mark.parametrize(
    ("module", "line", "contract", "named"),
    [
        (
            "tcplab/model/seqnum.py",
            "import scapy.layers.inet",
            "the model is pure",
            "tcplab.model.seqnum -> scapy",
        ),
        (
            "tcplab/engine/check.py",
            "from tcplab.cli import render",
            "tcplab's layers",
            "tcplab.engine.check -> tcplab.cli.render",
        ),
        (
            "tcplab/exercise/kit.py",
            "from tcplab.engine.session import Session",
            "the lab kit and the grade outputs load no driver",
            "tcplab.exercise.kit -> tcplab.engine.session",
        ),
        (
            "tcplab/engine/report.py",
            "from scapy.packet import Raw",
            "scapy is imported only under tcplab.wire",
            "tcplab.engine.report -> scapy",
        ),
        (
            "tcplab/app/client.py",
            "import pyroute2",
            "pyroute2 is imported only under tcplab.netns",
            "tcplab.app.client -> pyroute2",
        ),
        ("tcplab/unplaced.py", "PORT = 7788", "tcplab's layers", "- tcplab.unplaced"),
    ],
    ids=["model-scapy", "engine-cli", "kit-driver", "report-scapy", "app-pyroute2", "no-layer"],
)
def test_one_violating_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str, named: str
) -> None:
    shutil.copytree(
        REPO / "tcplab", tmp_path / "tcplab", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    path = tmp_path / module
    before = path.read_text() if path.exists() else ""
    path.write_text(f"{before}\n{line}  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    assert status(done.stdout, contract) == "BROKEN", done.stdout
    assert named in done.stdout, done.stdout


def test_the_ci_command_runs_lint_imports_and_stops_on_a_broken_contract() -> None:
    """CI runs .ci/run, which runs `./install.sh --test` (the README's test command): its lint
    step runs lint-imports under `set -e`, before the tests."""
    assert "./install.sh --test" in (REPO / ".ci" / "run").read_text()
    script = (REPO / "install.sh").read_text()
    assert "set -euo pipefail" in script
    test_block = script[script.index('if [ "$mode" = --test ]; then\n  cd "$here"') :]
    lines = [line.strip() for line in test_block.splitlines()]
    lint = next(i for i, line in enumerate(lines) if line.startswith('"$venv/bin/lint-imports"'))
    tests = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert lint < tests and "||" not in lines[lint]
    assert "lint-imports" in (REPO / "README.md").read_text()
