"""Scenario steps are typed: one class per kind, an app step wraps a protocol call with its
arguments under the protocol's names, and the app keys are checked by the protocol's own rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcplab.app import protocol as p
from tcplab.engine.scenario import (
    ACTIONS,
    KEYS,
    STEP_KINDS,
    AppStep,
    ExpectStep,
    SendStep,
    SilenceStep,
    SleepStep,
    StateStep,
    load,
)
from tcplab.errors import DefinitionError

REPO = Path(__file__).resolve().parents[2]
EVERY_CALL = REPO / "tests" / "fixtures" / "scenarios" / "every-app-call.toml"


def scenario(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'[scenario]\ntitle = "t"\n[[step]]\napp = "listen"\n{steps}')
    return path


def test_each_step_kind_is_its_own_class() -> None:
    assert ACTIONS[:6] == ("app", "send", "expect", "expect_silence", "expect_state", "sleep")
    assert {"expect_counters", "sysctl"} <= set(ACTIONS)
    assert [k.kind for k in STEP_KINDS] == list(ACTIONS) and set(KEYS) == set(ACTIONS)
    steps = load(REPO / "scenarios" / "synack-retransmission.toml").steps
    steps += load(REPO / "scenarios" / "syn-into-time-wait.toml").steps
    kinds = {type(s) for s in steps}
    assert {AppStep, SendStep, ExpectStep, StateStep} <= kinds
    assert {SilenceStep, SleepStep} & kinds


def test_an_app_step_wraps_a_protocol_call_with_the_protocols_argument_names() -> None:
    steps = [s for s in load(EVERY_CALL).steps if isinstance(s, AppStep)]
    by_call = {(s.call, s.target): s.args for s in steps}
    assert by_call[(p.Listen, None)] == {"backlog": 4}
    assert by_call[(p.Accept, None)] == {"timeout": 1.0}
    assert by_call[(p.Recv, None)] == {"max": 3}  # `bytes` in the file
    assert by_call[(p.SetSockOpt, "listener")] == {"name": "SO_REUSEADDR", "value": 1}
    assert by_call[(p.Close, "listener")] == {}
    lingers = [s.args for s in steps if s.args.get("name") == "SO_LINGER"]
    assert lingers == [{"name": "SO_LINGER", "value": (1, 0)}]


@pytest.mark.parametrize(
    ("steps", "line", "message", "hint"),
    [
        (
            '[[step]]\napp = "accept"\n[[step]]\napp = "setsockopt"\nname = "SO_FLY"\nvalue = 1\n',
            9,
            "setsockopt name = 'SO_FLY'",
            'use name = "SO_LINGER", "SO_RCVBUF",',
        ),
        (
            '[[step]]\napp = "accept"\n[[step]]\napp = "setsockopt"\nname = "SO_LINGER"\n'
            "value = [1]\n",
            10,
            "value = [1] is not a number",
            "write e.g. value = 1",
        ),
        (
            '[[step]]\napp = "accept"\n[[step]]\napp = "recv"\nbytes = 2000000\n',
            9,
            "bytes = 2000000 is out of range",
            "use 0 to 1048576, e.g. bytes = 100",
        ),
        (
            '[[step]]\napp = "accept"\n[[step]]\napp = "shutdown"\nhow = "both"\n',
            9,
            "shutdown how = 'both'",
            'use how = "rd", "wr" or "rdwr"',
        ),
        (
            '[[step]]\napp = "abort"\ntarget = "listener"\n',
            7,
            "app abort takes no 'target'",
            "it takes: nothing",
        ),
    ],
)
def test_app_keys_are_checked_by_the_protocols_rules_in_the_files_words(
    tmp_path: Path, steps: str, line: int, message: str, hint: str
) -> None:
    path = scenario(tmp_path, steps)
    with pytest.raises(DefinitionError) as exc:
        load(path)
    assert exc.value.message == f"{path}:{line}: {message}"
    assert exc.value.hint.startswith(hint)
