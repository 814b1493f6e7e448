"""A regular (not editable) install with `./install.sh --no-references`, into a virtual environment
of its own: the reference solutions are gone, `lab check --reference` says so with exit 3, and
grading with that install hides the installed labs folder (checks included) from the jail. And
`./install.sh` with no option, an instructor's: the package has no references, the script copies
them in, and `lab check --reference` scores one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.test_grade import leftovers

pytestmark = pytest.mark.netns

PEEK = """
import os, tcplab
labs = os.path.join(os.path.dirname(tcplab.__file__), "labs")
print("labs folder holds", sorted(os.listdir(labs)) if os.path.isdir(labs) else "nothing")
try:
    open(os.path.join(labs, "handshake", "checks.py")).read()
    print("FOUND checks.py")
except OSError:
    print("hidden checks.py")
"""


def install(says: str, *mode: str) -> Iterator[Path]:
    root = (
        Path("/opt/tcplab") / f"tlt-install-{uuid.uuid4().hex[:8]}"
    )  # not /tmp: jails mount their own
    env = {**os.environ, "TCPLAB_VENV": str(root / "venv"), "TCPLAB_BIN": str(root / "bin")}
    try:
        proc = subprocess.run(
            ["bash", str(REPO / "install.sh"), *mode], env=env, capture_output=True,
            text=True, timeout=540, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert says in proc.stdout
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    yield from install("reference solutions left out of", "--no-references")


@pytest.fixture(scope="module")
def instructors() -> Iterator[Path]:
    yield from install("reference solutions copied into")


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "bin" / "tcplab"), *args], capture_output=True, text=True, timeout=300,
        check=False, cwd="/",
    )  # fmt: skip


def installed_labs(root: Path) -> Path:
    return next((root / "venv").glob("lib/python3*/site-packages/tcplab/labs"))


def test_no_references_install_keeps_the_labs_but_not_their_solutions(installed: Path) -> None:
    labs = next((installed / "venv").glob("lib/python3*/site-packages/tcplab/labs"))
    assert sorted(p.name for p in labs.rglob("solution*")) == []
    assert (labs / "handshake" / "checks.py").is_file()
    assert (labs / "handshake" / "starter.py").is_file()
    listed = run(installed, "lab", "list")
    assert listed.returncode == 0 and "handshake" in listed.stdout
    ref = run(installed, "lab", "check", "handshake", "--reference")
    assert ref.returncode == 3, ref.stdout + ref.stderr
    assert ref.stderr.startswith("error: lab handshake has no reference solution here")
    assert "\nhint: this install leaves references out" in ref.stderr


def test_grading_with_a_regular_install_hides_its_labs_folder(
    installed: Path, tmp_path: Path
) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "peeker").mkdir(parents=True)
    (subs / "peeker" / "handshake.py").write_text(PEEK)
    proc = run(installed, "grade", str(subs), "--lab", "handshake", "--out", str(out), "-j", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcome = json.loads((out / "grade.json").read_text())["outcomes"][0]
    assert outcome["verdict"] == "scored", outcome["stdout"] + outcome["stderr"]
    assert "labs folder holds []" in outcome["stdout"], outcome["stdout"]
    assert "hidden checks.py" in outcome["stdout"]
    assert leftovers() == []


def test_an_instructors_install_gets_every_reference_and_checks_with_one(instructors: Path) -> None:
    labs = installed_labs(instructors)
    shipped = sorted(p.parent.name for p in (REPO / "labs").glob("*/solution.py"))
    assert sorted(p.parent.name for p in labs.glob("*/solution.py")) == shipped
    assert (labs / "rst" / "solution.py").read_bytes() == (
        REPO / "labs" / "rst" / "solution.py"
    ).read_bytes()
    ref = run(instructors, "lab", "check", "handshake", "--reference")
    assert ref.returncode == 0, ref.stdout + ref.stderr
    assert "score 10/10" in ref.stdout
