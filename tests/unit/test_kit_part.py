"""kit.Part: one part of an observation-wide lab is judged on the candidate its own checks score
best (ties: the later one), and says `missing` when there is none."""

from __future__ import annotations

from tcplab.exercise.kit import (
    Checklist,
    Fail,
    NotReached,
    Observation,
    ObservedConn,
    Part,
    Pass,
)


def conns() -> list[ObservedConn]:
    return [ObservedConn(40000 + i, 7788) for i in range(3)]


def part_on(candidates: list[ObservedConn]) -> tuple[Checklist, Observation, Part]:
    checks = Checklist()
    part = Part(checks, lambda obs: candidates, "you opened no connection")
    # port 40001 passes both checks, 40002 only the first: 40001 is judged
    part.add("first", 2)(lambda c: Pass(str(c.sport)) if c.sport > 40000 else Fail("no"))
    part.add("second", 3, needs=("first",))(
        lambda c: Pass(str(c.sport)) if c.sport == 40001 else NotReached("not there")
    )
    return checks, Observation(candidates, [], 0, False), part


def test_the_candidate_its_checks_score_best_is_judged():
    checks, obs, _ = part_on(conns())
    rows = checks.run(obs)
    assert [r.detail for r in rows] == ["40001", "40001"] and sum(r.earned for r in rows) == 5


def test_ties_go_to_the_later_candidate():
    candidates = conns()[:1] + [ObservedConn(40001, 7788), ObservedConn(40001, 7789)]
    checks, obs, part = part_on(candidates)
    checks.run(obs)
    chosen = part.chosen(obs)
    assert chosen is not None and (chosen.sport, chosen.kport) == (40001, 7789)


def test_no_candidate_is_not_reached_with_the_parts_sentence():
    checks, obs, _ = part_on([])
    rows = checks.run(obs)
    assert rows[0].status == "fail" and rows[0].detail == "you opened no connection"
    assert rows[1].status == "not_reached"
