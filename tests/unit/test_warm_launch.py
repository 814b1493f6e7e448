"""tcplab.launch starts `lab check`'s warm process before the command line loads, for that
command only (and never for its help)."""

from __future__ import annotations

import pytest

from tcplab import launch
from tcplab.sandbox import warm


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    calls: list[bool] = []
    monkeypatch.setattr(warm, "start_early", lambda: calls.append(True))
    monkeypatch.setattr(launch.os, "geteuid", lambda: 0)
    return calls


@pytest.mark.parametrize(
    "args",
    [
        ["lab", "check", "handshake"],
        ["--lang", "zh_CN", "lab", "check", "handshake", "--reference"],
        ["lab", "check"],
    ],
)
def test_lab_check_starts_it(args: list[str], started: list[bool]):
    launch._early_warm_start(args)
    assert started == [True]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["lab", "show", "check"],
        ["check", "lab"],
        ["lab", "check", "--help"],
        ["lab", "check", "-h"],
        ["grade", "subs", "--lab", "handshake"],
        ["lab"],
    ],
)
def test_other_commands_do_not(args: list[str], started: list[bool]):
    launch._early_warm_start(args)
    assert started == []


def test_not_as_root_it_is_not_started(started: list[bool], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(launch.os, "geteuid", lambda: 1000)
    launch._early_warm_start(["lab", "check", "handshake"])
    assert started == []
