"""Record the runs the unit tests score: each lab's reference, starter and cases.

    sudo python -m tests.record_labs [LAB...]

Runs `tcplab lab check LAB FILE --record` for each and keeps the recording in
tests/fixtures/labs/LAB/recorded/NAME.json (what the kernel host saw: capture, socket-table samples,
the application's log, sysctls). Re-record a lab after changing its reference, its cases or what the
recording holds; the live tests (tests/integration/test_labs.py) check the same expectations.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.labcases import REPO, case_name, cases, lab_names, recorded, write_solution


def record(lab: str, name: str, solution: Path) -> None:
    out = recorded(lab, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "tcplab", "lab", "check", lab, str(solution), "--json",
         "--hint-level", "1", "--record", str(out)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    if run.returncode not in (0, 1):
        raise SystemExit(f"{lab}/{name}: lab check failed ({run.returncode}): {run.stderr}")
    print(f"{lab}/{name}: recorded ({out.stat().st_size // 1024} KiB)")


def main(labs: list[str]) -> None:
    for lab in labs or lab_names():
        record(lab, "reference", REPO / "labs" / lab / "solution.py")
        record(lab, "starter", REPO / "labs" / lab / "starter.py")
        with tempfile.TemporaryDirectory() as tmp:
            for case in cases(lab):
                record(lab, case_name(case), write_solution(lab, case, Path(tmp)))


if __name__ == "__main__":
    main(sys.argv[1:])
