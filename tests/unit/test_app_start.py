"""The kernel-side application as supervise starts it: the real command line (no site module),
ready on its pipe, and a SIGTERM sent the moment "ready" is read ends it tidily. No listener
(--listen 0) and a control socket in a temporary folder: nothing here needs a namespace or root."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tcplab import child_env
from tcplab.app import supervise


def _start(control: str) -> tuple[subprocess.Popen[bytes], int, list[str]]:
    """The application started as supervise.Launch starts it: (process, ready pipe, argv)."""
    read_fd, write_fd = os.pipe()
    cmd = supervise.argv(control, 0, write_fd, None)
    proc = subprocess.Popen(
        cmd, pass_fds=(write_fd,), env=child_env(), cwd="/", stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    os.close(write_fd)
    return proc, read_fd, cmd


def test_the_application_starts_without_site_and_keeps_its_recognisable_command_line(
    tmp_path: Path,
) -> None:
    control = str(tmp_path / "app.sock")
    proc, read_fd, cmd = _start(control)
    try:
        assert cmd[:2] == [sys.executable, "-S"]
        assert supervise.looks_like_app(cmd, control)
        assert select.select([read_fd], [], [], 10)[0] and os.read(read_fd, 64) == b"ready\n"
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:-1] == [os.fsencode(a) for a in cmd]
    finally:
        os.close(read_fd)
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0


@pytest.mark.parametrize("attempt", range(5))
def test_a_sigterm_sent_as_ready_is_read_ends_the_application_tidily(
    tmp_path: Path, attempt: int
) -> None:
    control = tmp_path / "app.sock"
    proc, read_fd, _cmd = _start(str(control))
    try:
        assert select.select([read_fd], [], [], 10)[0] and os.read(read_fd, 64) == b"ready\n"
        proc.send_signal(signal.SIGTERM)  # at once: the application may still be in its write
        _out, err = proc.communicate(timeout=10)
    finally:
        os.close(read_fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert (proc.returncode, err) == (0, b"")
    assert not control.exists()
