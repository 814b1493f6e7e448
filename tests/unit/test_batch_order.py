"""The order `tcplab run` starts scenarios in: the longest (their own sleeps and silences) first."""

from __future__ import annotations

from pathlib import Path

from tcplab.engine.batch import longest_first, own_waits
from tcplab.engine.scenario import load

REPO = Path(__file__).resolve().parents[2]


def test_own_waits_add_the_sleeps_and_silences() -> None:
    sc = load(REPO / "scenarios" / "linux-orphan-fin-wait-2.toml")
    waits = [s.seconds for s in sc.steps if s.kind in ("sleep", "expect_silence")]
    assert own_waits(sc) == sum(waits) > 0


def test_the_longest_start_first_and_ties_keep_their_order() -> None:
    names = ["passive-open", "linux-orphan-fin-wait-2", "active-open", "time-wait-fin-again"]
    scenarios = [load(REPO / "scenarios" / f"{n}.toml") for n in names]
    order = [names[i] for i in longest_first(scenarios)]
    assert order[:2] == ["linux-orphan-fin-wait-2", "time-wait-fin-again"]
    assert sorted(order) == sorted(names)
    ties = [n for n in order if own_waits(scenarios[names.index(n)]) == 0]
    assert ties == [n for n in names if n in ties]
