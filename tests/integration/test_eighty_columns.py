"""At 80 columns every line tcplab prints fits: handouts, lab checks (a reference and a wrong
solution), status, sockets, handshake, lab list, and an error. Piped output is read at COLUMNS=80;
on a terminal (a pseudo-terminal 80 columns wide, no COLUMNS) rich's own layout is held to it too."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tcplab.exercise.catalog import all_labs
from tcplab.netns.record import TestbedSpec
from tcplab.text import columns
from tests.conftest import REPO, run_cli

COLS = 80
LABS = [lab.name for lab in all_labs()]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)")


def at_80(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={**os.environ, "COLUMNS": str(COLS)}, timeout=timeout)


def too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if columns(line) > COLS]


def on_a_terminal(*args: str, cols: int = COLS) -> tuple[int, str]:
    """Run `python -m tcplab ARGS` with stdout and stderr on a pseudo-terminal `cols` wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcplab", *args],
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env={**env, "TERM": "xterm-256color"},
        cwd=REPO,
    )
    os.close(follower)
    chunks = []
    try:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
        code = proc.wait(timeout=60)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return code, _ANSI.sub("", text)


@pytest.mark.parametrize("name", LABS)
def test_every_handout_fits_80_columns_piped(name: str) -> None:
    out = at_80("lab", "show", name)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# Lab")
    assert too_wide(out.stdout) == []


@pytest.mark.parametrize("name", LABS)
def test_every_handout_fits_an_80_column_terminal(name: str) -> None:
    code, text = on_a_terminal("lab", "show", name)
    assert code == 0, text
    assert "Goal." in text and "```" not in text  # rendered by rich, not the source
    assert too_wide(text) == []


def test_lab_list_fits_80_columns() -> None:
    out = at_80("lab", "list")
    assert out.returncode == 0 and len(out.stdout.splitlines()) >= len(LABS)
    assert too_wide(out.stdout) == []


def test_an_error_wraps_on_a_terminal_and_stays_one_line_piped(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4)
    deep.mkdir()
    missing = str(deep / "handshake.py")
    code, text = on_a_terminal("lab", "check", "handshake", missing)
    lines = text.splitlines()
    assert code == 2 and lines[0].startswith("error: no solution file")
    assert any(line.startswith("hint: ") for line in lines)
    assert len(lines) > 2 and too_wide(text) == []
    assert all(line.startswith(("error: ", "hint: ", "       ")) for line in lines)
    piped = at_80("lab", "check", "handshake", missing)
    assert piped.returncode == 2 and len(piped.stderr.splitlines()) == 2


@pytest.mark.netns
def test_handshake_status_and_sockets_fit_80_columns(lab: TestbedSpec) -> None:
    shake = at_80("handshake", "--target", f"{lab.kernel}:7788", "--keep", "--sport", "40123")
    assert shake.returncode == 0, shake.stdout + shake.stderr
    assert "──▶" in shake.stdout and "checks passed" in shake.stdout
    assert too_wide(shake.stdout) == []
    status = at_80("status", "--crafting", lab.crafting)
    assert status.returncode == 0, status.stderr
    assert "rule in" in status.stdout and "ESTABLISHED" in status.stdout
    assert too_wide(status.stdout) == []
    sockets = at_80("sockets", lab.kernel)
    assert sockets.returncode == 0 and f"TCP sockets in {lab.kernel}" in sockets.stdout
    assert "Local Address:Port" in sockets.stdout and too_wide(sockets.stdout) == []


@pytest.mark.netns
def test_handshake_fits_an_80_column_terminal(lab: TestbedSpec) -> None:
    code, text = on_a_terminal("handshake", "--target", f"{lab.kernel}:7788")
    assert code == 0, text
    assert "◀──" in text and too_wide(text) == []


@pytest.mark.netns
@pytest.mark.parametrize("solution", ["solution.py", "starter.py"])
def test_a_lab_check_fits_80_columns(solution: str) -> None:
    """The reference (full marks) and the untouched starter (failures with hints)."""
    lab = next(lab for lab in all_labs() if lab.name == "handshake")
    out = at_80("lab", "check", "handshake", str(lab.dir / solution))
    assert out.returncode == (0 if solution == "solution.py" else 1), out.stdout + out.stderr
    assert "score " in out.stdout and too_wide(out.stdout) == []
    if solution == "starter.py":
        assert "hint" in out.stdout and "✗" in out.stdout


@pytest.mark.netns
@pytest.mark.parametrize("name", ["rst", "state-tour"])
def test_a_multi_connection_ladder_fits_80_columns_and_names_each_connection(name: str) -> None:
    """Every arrow of a lab with several connections carries its label (`:40000` or
    `:40000⇄:7788`), and the two lanes, arrows and states stay within 80 columns."""
    out = at_80("lab", "check", name, "--reference", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert too_wide(out.stdout) == []
    arrows = [line for line in out.stdout.splitlines() if "──▶ │" in line or "│ ◀──" in line]
    assert len(arrows) > 6
    assert all(re.search(r":\d+", line) for line in arrows), arrows


@pytest.mark.netns
def test_a_handshake_fits_a_60_column_terminal_with_both_lanes(lab: TestbedSpec) -> None:
    code, text = on_a_terminal("handshake", "--target", f"{lab.kernel}:7788", cols=60)
    assert code == 0, text
    assert [line for line in text.splitlines() if columns(line) > 60] == []
    assert any(
        "◀──" in line and line.rstrip().endswith(("SYN_RECEIVED", "SYN-RECV"))
        for line in text.splitlines()
    )
