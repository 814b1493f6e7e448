"""The kit judges like a teacher: not reached instead of blame, one cause charged once, hint tiers,
the best connection counts, incarnations on one port told apart, a recording scored again."""

from __future__ import annotations

import json
from pathlib import Path

from tcplab.exercise.attempts import Attempts
from tcplab.exercise.catalog import get
from tcplab.exercise.evaluate import evaluate, observation
from tcplab.exercise.kit import Checklist, Fail, NotReached, Observation, Pass, ScoredCheck
from tcplab.exercise.recording import Recording
from tests.labcases import recorded

EMPTY = Observation([], [], 0, False)


def checklist() -> Checklist:
    checks = Checklist()
    checks.add("first", 2, hints=("where", "concept", "formula"))(
        lambda o: Fail("wrong", cause="x")
    )
    checks.add("second", 3, hint="only one", needs=("first",))(
        lambda o: NotReached("never got there")
    )
    checks.add("third", 1, hint="h3")(lambda o: Fail("wrong again", cause="x"))
    checks.add("fourth", 4, hint="h4")(lambda o: NotReached("you did not try"))
    checks.add("fifth", 5)(lambda o: Pass("fine"))
    checks.add("sixth", 1)(lambda o: (True, "old style"))
    return checks


def by_title(rows: list[ScoredCheck]) -> dict[str, ScoredCheck]:
    return {r.title: r for r in rows}


def test_a_check_whose_need_failed_is_not_reached_and_blames_nothing():
    rows = by_title(checklist().run(EMPTY))
    second = rows["second"]
    assert second.status == "not_reached" and second.earned == 0 and second.hint == ""
    assert second.detail == "not reached: see ✗ 'first' above"


def test_the_same_cause_is_named_once():
    rows = by_title(checklist().run(EMPTY))
    assert rows["first"].status == "fail" and rows["first"].hint == "where"
    assert rows["third"].status == "same_cause" and rows["third"].hint == ""
    assert "same cause as ✗ 'first' above" in rows["third"].detail


def test_not_reached_with_no_failed_need_is_a_failure_with_its_hint():
    rows = by_title(checklist().run(EMPTY))
    assert rows["fourth"].status == "fail" and rows["fourth"].hint == "h4"


def test_passes_old_and_new():
    rows = by_title(checklist().run(EMPTY))
    assert rows["fifth"].ok and rows["fifth"].earned == 5
    assert rows["sixth"].ok and rows["sixth"].detail == "old style"


def test_hint_tiers_by_level_and_per_check():
    assert by_title(checklist().run(EMPTY, 2))["first"].hint == "concept"
    assert by_title(checklist().run(EMPTY, 9))["first"].hint == "formula"
    rows = by_title(checklist().run(EMPTY, lambda title: 3 if title == "first" else 1))
    assert rows["first"].hint == "formula" and rows["first"].hint_level == 3
    assert rows["fourth"].hint == "h4"


def test_a_need_must_be_an_earlier_check():
    checks = Checklist()
    try:
        checks.add("a", 1, needs=("b",))
    except ValueError as exc:
        assert "needs 'b'" in str(exc)
    else:
        raise AssertionError("accepted a need that is not an earlier check")


def test_attempts_raise_the_tier_and_a_pass_resets_it(tmp_path):
    a = Attempts(tmp_path)
    assert a.level("handshake", "x") == 1
    fail = ScoredCheck("x", 1, 0, False, "", "", status="fail")
    for want in (2, 3, 3):
        a.update("handshake", [fail])
        assert Attempts(tmp_path).level("handshake", "x") == want
    a.update("handshake", [ScoredCheck("x", 1, 1, True, "", "")])
    assert Attempts(tmp_path).level("handshake", "x") == 1
    not_reached = ScoredCheck("x", 1, 0, False, "", "", status="not_reached")
    a.update("handshake", [not_reached])
    assert Attempts(tmp_path).level("handshake", "x") == 1


def test_an_unreadable_attempts_file_starts_again(tmp_path):
    (tmp_path / "attempts.json").write_text("{not json")
    assert Attempts(tmp_path).level("handshake", "x") == 1


def load(name: str) -> Recording:
    return Recording.load(recorded("handshake", name))


def test_a_recording_survives_its_json():
    rec = load("reference")
    again = Recording.from_json(json.loads(json.dumps(rec.to_json())))
    assert [s.segment for s in again.seen] == [s.segment for s in rec.seen]
    assert again.samples == rec.samples and again.events == rec.events


def test_the_best_connection_counts_and_the_others_are_named():
    ev = evaluate(get("handshake"), load("probe_closed_port_first"))
    assert ev.judgement.score == 10
    assert ev.judgement.judged is not None and ev.judgement.judged.kport == 7788
    assert ev.judgement.judged_text().startswith("judged: your connection from port ")


def test_two_handshakes_on_one_port_are_two_incarnations():
    rec = load("same_isn_twice_on_one_port")
    obs, _ = observation(rec)
    ev = evaluate(get("handshake"), rec)
    (conn,) = [c for c in ev.observation.conns if c.kport == 7788]
    first, second = conn.incarnations()
    assert first.iss == second.iss  # the same ISN: told apart because the first was reset
    assert len(first.crafted()) == 2 and len(second.crafted()) == 2
    assert ev.judgement.others == 1 and ev.judgement.score == 10
    assert obs.attempts() and Path(recorded("handshake", "reference")).is_file()
