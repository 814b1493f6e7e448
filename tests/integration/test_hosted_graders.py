"""What a hosted grader's container (Gradescope's autograder, PrairieLearn's external grader) can
do with tcplab, as far as this machine can show it: such containers run without CAP_SYS_ADMIN and
CAP_NET_ADMIN (Docker's default), so no network namespace can be made. `tcplab grade` there grades
nothing: every submission is an environment error, exit 3, PrairieLearn's file says not gradable
and Gradescope's promises a regrade. docs/grading-formats.md says so instead of a recipe."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.netns


@pytest.mark.skipif(shutil.which("capsh") is None, reason="needs capsh (Debian's libcap2-bin)")
def test_grading_in_a_container_without_namespace_capabilities_grades_nothing(
    tmp_path: Path,
) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "ana").mkdir(parents=True)
    shutil.copy(REPO / "labs" / "handshake" / "solution.py", subs / "ana" / "handshake.py")
    command = f"{sys.executable} -m tcplab grade {subs} --lab handshake --out {out} -j 1"
    proc = subprocess.run(
        ["capsh", "--drop=cap_sys_admin,cap_net_admin", "--", "-c", command], cwd=REPO,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (outcome,) = json.loads((out / "grade.json").read_text())["outcomes"]
    assert outcome["verdict"] == "environment_error" and outcome["score"] is None
    assert "Operation not permitted" in outcome["message"]
    assert json.loads((out / "ana" / "prairielearn.json").read_text())["gradable"] is False
    assert "graded again" in json.loads((out / "ana" / "results.json").read_text())["output"]
