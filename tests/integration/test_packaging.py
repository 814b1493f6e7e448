"""What a course installs for its students: the wheel and the sdist built from this tree, as
`python -m build` builds them, hold every lab's handout, starter and checks and no reference
solution (pyproject.toml leaves labs/*/solution.py out by construction). No root needed."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

LABS = sorted(p.name for p in (REPO / "labs").iterdir() if (p / "lab.toml").is_file())


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tree as git has it (no caches, no egg-info), built into an sdist and a wheel."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
        capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    for name in filter(None, files):
        path = REPO / name.decode()
        if path.is_file():
            (src / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            (src / name.decode()).write_bytes(path.read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)], capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


def wheel_names(dist: Path) -> list[str]:
    (wheel,) = dist.glob("tcplab-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def sdist_names(dist: Path) -> list[str]:
    (sdist,) = dist.glob("tcplab-*.tar.gz")
    with tarfile.open(sdist) as tar:
        return ["/".join(n.split("/")[1:]) for n in tar.getnames()]  # without tcplab-VERSION/


def test_the_wheel_has_every_lab_but_no_reference_solution(dist: Path) -> None:
    names = wheel_names(dist)
    assert [n for n in names if "solution" in n.rsplit("/", 1)[-1]] == []
    for lab in LABS:
        for part in ("README.md", "README.zh_CN.md", "lab.toml", "starter.py", "checks.py"):
            assert f"tcplab/labs/{lab}/{part}" in names, (lab, part)
    assert "tcplab/grade/schemas/gradescope.schema.json" in names
    assert "tcplab/locale/zh_CN/LC_MESSAGES/tcplab.mo" in names  # the compiled Chinese catalog


def test_the_sdist_has_every_lab_but_no_reference_solution(dist: Path) -> None:
    names = sdist_names(dist)
    assert [n for n in names if "solution" in n.rsplit("/", 1)[-1]] == []
    assert not [n for n in names if n.startswith("tests/")]  # fixtures hold variants of them
    for lab in LABS:
        assert f"labs/{lab}/checks.py" in names and f"labs/{lab}/starter.py" in names


def test_the_checkout_still_holds_every_reference_for_instructors() -> None:
    assert LABS and all((REPO / "labs" / lab / "solution.py").is_file() for lab in LABS)
