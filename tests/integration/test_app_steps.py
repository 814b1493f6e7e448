"""Every app call a scenario can make, made by the runner on the real kernel: the socket each acts on
(the conn's, the listener's), the arguments from the file, what the report says of each reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.netns
SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "every-app-call.toml"


def test_every_app_call_a_scenario_can_make_runs_on_the_kernel() -> None:
    out = run_cli("run", str(SCENARIO))
    assert out.returncode == 0, out.stdout + out.stderr
    for line in (
        "app listen(port 7788, backlog 4)",
        "app setsockopt(SO_REUSEADDR = 1)",  # on the listener (target)
        "app accept -> connection from port 40000",
        "app setsockopt(TCP_NODELAY = 1)",
        "app recv -> b'hel'",  # bytes = 3 of the 5 that came
        "app shutdown(wr)",
        "app setsockopt(SO_LINGER = (1, 0))",
        "observed R. 2:2(0) ack 6",  # SO_LINGER 0 (and unread data): close() resets
        "19/19 checks passed",
    ):
        assert line in out.stdout, line


def test_a_refused_app_call_is_a_mismatch_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "accept-nothing.toml"
    path.write_text(
        '[scenario]\ntitle = "accept with nothing to accept"\n'
        '[[step]]\napp = "listen"\n[[step]]\napp = "accept"\ntimeout = 0.1\n'
    )
    out = run_cli("run", str(path))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "line 6: app accept failed: no connection to accept on listener 1 within 0.1 s" in (
        out.stdout
    )
