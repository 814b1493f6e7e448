"""The student's context is one typed record: built once, carried in TCPLAB_CONTEXT as the JSON a
solution may also read directly, read back by Lab(); and the kernel-side application's supervision
(start, readiness, health, stop) works on a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tcplab.app import supervise
from tcplab.context import CONTEXT_ENV, LabContext
from tcplab.errors import EnvironmentProblem

CTX = LabContext(
    lab="handshake",
    crafting_addr="10.77.0.1",
    kernel_addr="10.77.0.2",
    iface="tcplab0",
    port=7788,
    crafting_mac="02:74:6c:00:00:01",
    kernel_mac="02:74:6c:00:00:02",
    app_control="/run/tcplab/labs/x/app.sock",
    sport=40001,
)


def test_the_context_travels_in_the_environment_as_plain_json() -> None:
    graded = replace(CTX, ports=(40016, 40017), sport=40016, isn=12345)
    for ctx in (CTX, graded):
        env = ctx.to_env()
        assert LabContext.from_env(env) == ctx
        raw = json.loads(env[CONTEXT_ENV])  # what a solution reading it directly finds
        assert raw["kernel_addr"] == "10.77.0.2" and raw["port"] == 7788
    assert "isn" not in json.loads(CTX.to_json())  # None: Lab() picks one
    shell = {k: v for k, v in json.loads(CTX.to_json()).items() if k not in ("sport", "ports")}
    assert LabContext.from_mapping(shell).sport is None


def test_no_context_or_a_garbled_one_is_an_environment_problem() -> None:
    with pytest.raises(EnvironmentProblem, match="no lab context"):
        LabContext.from_env({})
    for raw in ("{", "[]", '{"lab": "x"}', '{"port": "x"}'):
        with pytest.raises(EnvironmentProblem, match="not readable"):
            LabContext.from_env({CONTEXT_ENV: raw})


def test_the_context_module_loads_no_scapy() -> None:
    code = "import sys, tcplab.context; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.replace("'", '"'))
    assert "scapy" not in loaded and "pyroute2" not in loaded


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_the_application_starts_answers_and_stops(tmp_path: Path) -> None:
    control = str(tmp_path / "app.sock")  # no --listen: the process makes no inet socket here
    before = _open_fds()
    with supervise.Launch(control, 0, watch_owner=False) as launch:
        with supervise.open_log(tmp_path / "app.log") as log:
            proc = launch.spawn(log)
        assert launch.argv[launch.argv.index("--control") + 1] == control
        assert launch.ready(10)
    try:
        assert supervise.child_running(proc.pid)
        assert supervise.looks_like_app(launch.argv, control)
        assert supervise.sockets(control) == []
    finally:
        supervise.stop(proc.pid, lambda: supervise.child_running(proc.pid))
    assert proc.returncode == 0 and not supervise.child_running(proc.pid)
    assert not os.path.exists(control) and _open_fds() <= before


def test_an_application_that_cannot_start_says_why_in_its_log(tmp_path: Path) -> None:
    control = str(tmp_path / "missing" / "app.sock")
    before = _open_fds()
    with supervise.Launch(control, 0, watch_owner=True) as launch:
        with supervise.open_log(tmp_path / "app.log") as log:
            proc = launch.spawn(log)
        assert not launch.ready(10)
    proc.wait(10)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert supervise.log_tail(fd).startswith("tcplab app: [Errno 2] No such file or directory")
    finally:
        os.close(fd)
    assert _open_fds() <= before
