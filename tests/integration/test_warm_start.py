"""`lab check`'s warm start (tcplab/sandbox/warm.py) against the cold one it replaces: the program
sees the same argv, folder, path, environment, namespace, scapy configuration and streams, and ends
with the same status, output and tracebacks."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tcplab.exercise.checker import run_as_root, run_warm
from tcplab.netns.record import TestbedSpec, find_record, lab_context
from tcplab.sandbox.warm import WarmStart
from tests.conftest import run_cli

pytestmark = pytest.mark.netns

SHOW = textwrap.dedent(
    """\
    import os, sys
    from scapy.all import IP, TCP, conf
    from tcplab.student import Lab
    lab = Lab()
    print(sys.argv, os.getcwd(), sys.path[0], __name__, __file__)
    print(os.environ.get("TCPLAB_CONTEXT") is not None, os.environ.get("WARM_TEST"))
    print(conf.iface, conf.route.route(lab.dst)[0], lab.dport)
    print(os.stat("/proc/self/ns/net").st_ino, os.read(0, 1), os.getsid(0) == os.getpid())
    print("to stderr", file=sys.stderr)
    raise SystemExit(3)
    """
)
RAISES = "def f():\n    raise ValueError('no')\n\nprint('before')\nf()\n"


def _both(lab: TestbedSpec, program: Path, limit: float = 20.0) -> tuple[object, object]:
    rec = find_record(lab.crafting)
    assert rec is not None
    ctx = lab_context(rec, "handshake", lab.port)
    cold = run_as_root(program, lab, ctx, limit)
    with WarmStart() as warm:
        hot = run_warm(warm)(program, lab, ctx, limit)
    return cold, hot


@pytest.fixture
def marked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARM_TEST", "yes")


def test_the_program_sees_what_a_fresh_python_sees(lab: TestbedSpec, tmp_path: Path, marked):
    program = tmp_path / "show.py"
    program.write_text(SHOW)
    cold, hot = _both(lab, program)
    assert (hot.exit_code, hot.stdout, hot.stderr) == (cold.exit_code, cold.stdout, cold.stderr)
    assert cold.exit_code == 3 and "tcplab0" in cold.stdout and "True yes" in cold.stdout


def test_a_traceback_and_its_status_are_those_of_python(lab: TestbedSpec, tmp_path: Path):
    program = tmp_path / "raises.py"
    program.write_text(RAISES)
    cold, hot = _both(lab, program)
    assert (hot.exit_code, hot.stdout, hot.stderr) == (cold.exit_code, cold.stdout, cold.stderr)
    assert cold.exit_code == 1 and "ValueError: no" in cold.stderr


def test_a_program_past_its_time_is_stopped(lab: TestbedSpec, tmp_path: Path):
    program = tmp_path / "sleeps.py"
    program.write_text("import time\nprint('going', flush=True)\ntime.sleep(60)\n")
    cold, hot = _both(lab, program, limit=3.0)
    assert cold.timed_out and hot.timed_out
    assert hot.stdout == cold.stdout == "going\n"


def test_a_module_beside_the_program_that_shadows_a_loaded_one_gets_a_cold_start(
    lab: TestbedSpec, tmp_path: Path
):
    (tmp_path / "random.py").write_text("print('the student random')\n")
    program = tmp_path / "uses.py"
    program.write_text("import random\nprint('done')\n")
    with WarmStart() as warm:
        assert warm.ready(60)
        assert warm.shadowed(tmp_path) == ["random"]
    cold, hot = _both(lab, program)
    assert hot.stdout == cold.stdout == "the student random\ndone\n"


def test_an_unused_warm_process_ends_with_its_handle():
    with WarmStart() as warm:
        pid = warm.proc.pid
    assert warm.proc.returncode is not None
    assert not os.path.exists(f"/proc/{pid}/cmdline") or warm.proc.poll() is not None


def _warm_processes() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "tcplab.sandbox.warm"], capture_output=True, text=True)
    return out.stdout.splitlines()


def test_a_lab_check_that_fails_early_leaves_no_warm_process():
    """The command line starts the warm process before it parses anything (tcplab.launch): a
    usage error must not leave it behind."""
    before = set(_warm_processes())
    out = run_cli("lab", "check", "no-such-lab", "--reference")
    assert out.returncode == 2, out.stderr
    for _ in range(50):
        if not set(_warm_processes()) - before:
            break
        time.sleep(0.05)
    assert not set(_warm_processes()) - before
