"""The grader's zygote starts while the first testbeds are built: a run may ask whether it is ready
without waiting, a stopped run stops waiting for it, and it ends (status 0) as soon as the grader
closes it."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tcplab.grade.grader import Grader, Settings
from tcplab.netns.record import TestbedSpec
from tcplab.sandbox.zygote import Zygote

pytestmark = pytest.mark.netns


def test_a_zygote_not_waited_for_says_when_it_is_ready_and_exits_cleanly() -> None:
    z = Zygote(wait=False)
    try:
        assert z.binds == []  # not known before its hello
        assert z.ready(timeout=0.0) is False  # scapy is still being imported
        assert z.ready() is True and z.ready(timeout=0.0) is True
        assert z.binds  # the interpreter and the tcplab package
    finally:
        z.close()
    assert z.proc.returncode == 0


def test_a_stopped_run_does_not_wait_for_the_zygote(tmp_path: Path) -> None:
    from tcplab.exercise.catalog import get
    from tcplab.sandbox.runner import Limits

    stop = threading.Event()
    grader = Grader(Settings(labs=[get("handshake")], out=tmp_path), stop)
    try:
        stop.set()  # Ctrl-C before the zygote said it is ready
        launch = grader._launcher(b"", "handshake.py", Limits())
        nothing = SimpleNamespace()  # a stopped launch reads neither the testbed nor the context
        ran = launch(Path("handshake.py"), TestbedSpec(), nothing, 1.0)  # type: ignore[arg-type]
        assert ran.sandbox_error == "stopped before the sandbox started"
        assert ran.exit_code is None
    finally:
        grader.close()
