"""Ctrl-C while tcplab is still loading: exit 130 with one line, never a traceback.

The signal is sent at 0-80 ms after start, while Python and the command line load. The child starts
with SIGINT blocked, so a signal sent before any tcplab code runs stays pending until tcplab's entry
point installs its handler and unblocks it: this pins down tcplab's own part, deterministically.
(What Python prints for a signal during its own start-up, before any tcplab code, is measured by
bench/interrupt_bench.py.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STARTING = "error: interrupted while starting; nothing was made"
RUNNING = "error: interrupted; what this command had made was removed"


def _blocked() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def interrupt_after(args: list[str], delay: float, sig: int, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen(
        [sys.executable, str(REPO / "bin" / "tcplab"), *args],  # the installed command
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
        preexec_fn=_blocked,  # noqa: PLW1509 (a test: no threads here)
    )
    time.sleep(delay)
    p.send_signal(sig)
    _out, err = p.communicate(timeout=30)
    return p.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("args", [["--help"], ["run", "x.toml"]], ids=["help", "run"])
def test_a_signal_while_loading_exits_130_with_one_line(
    tmp_path: Path, args: list[str], sig: int
) -> None:
    seen = set()
    for ms in range(0, 90, 10):
        code, err = interrupt_after(args, ms / 1000, sig, tmp_path)
        assert "Traceback" not in err and "Exception ignored" not in err, err
        lines = err.splitlines()
        if code == 130:
            assert lines in ([STARTING], [RUNNING]), err
            seen.add(lines[0])
        else:  # the command was over before the signal came
            assert code == (0 if args == ["--help"] else 2), err
    assert STARTING in seen, "no signal arrived while loading: the test proves nothing"


def test_a_coroutine_finalized_after_its_loop_closed_prints_nothing(capsys):
    """An interrupt during a pyroute2 call leaves a coroutine that Python finalizes after the
    loop closed: tcplab's hook keeps that noise off stderr, and passes anything else on."""
    import gc
    import sys

    from tcplab.cli import _quiet_closed_loop

    class Noisy:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def __del__(self) -> None:
            raise self.exc

    old = sys.unraisablehook
    sys.unraisablehook = _quiet_closed_loop
    try:
        Noisy(RuntimeError("Event loop is closed"))
        gc.collect()
        assert capsys.readouterr().err == ""
        Noisy(ValueError("something else"))
        gc.collect()
        assert "something else" in capsys.readouterr().err
    finally:
        sys.unraisablehook = old
