"""One verdict everywhere (tcplab.exercise.rules): `lab check` and `tcplab grade` draw ports and ISN
the same way, pin the same sysctls, and a run whose segments the port rule dropped says so with the
rule's text, in the result's JSON and in the grading report. No root: recorded runs."""

from __future__ import annotations

import json
from dataclasses import replace

from tcplab.exercise import rules
from tcplab.exercise.catalog import get
from tcplab.exercise.checker import Options, result_of
from tcplab.exercise.recording import Recording
from tcplab.grade import grader, outputs
from tcplab.grade.outcome import Outcome, Verdict
from tcplab.sandbox.cgroup import Usage
from tcplab.sandbox.runner import Limits
from tests import labcases


def recorded(lab: str, name: str) -> Recording:
    return Recording.from_json(json.loads(labcases.recorded(lab, name).read_text()))


def crafting_ports(rec: Recording) -> set[int]:
    return {s.segment.sport for s in rec.seen if not s.from_kernel}


def test_grading_assigns_the_same_ports_and_isn_for_the_same_seed_as_before():
    ports, isn = rules.assign("s1", "alice", "handshake")
    assert (ports, isn) == rules.assign("s1", "alice", "handshake")
    assert (ports, isn) != rules.assign("s2", "alice", "handshake")
    assert len(set(ports)) == rules.PORTS_PER_STUDENT and all(p in rules.PORT_RANGE for p in ports)
    assert grader.assign is rules.assign and grader.PINNED_SYSCTLS is rules.PINNED_SYSCTLS


def test_lab_check_draws_its_own_ports_and_isn_like_grading_does():
    draws = {tuple(rules.own_ports()[0]) for _ in range(20)}
    assert len(draws) == 20
    ports, isn = rules.own_ports()
    assert len(set(ports)) == rules.PORTS_PER_STUDENT and 1 <= isn < 2**31


def test_lab_check_and_grading_pin_the_same_sysctls():
    assert Options().pinned == rules.PINNED_SYSCTLS
    assert Options().pinned is not rules.PINNED_SYSCTLS  # a caller's change stays its own


def test_a_run_whose_port_was_allowed_has_nothing_dropped():
    rec = recorded("handshake", "reference")
    rec.allowed = sorted(crafting_ports(rec))
    assert rules.ports_dropped(rec) is None
    rec.allowed = None  # a recording made before the rule (or `tcplab shell`): no rule
    assert rules.ports_dropped(rec) is None


def test_a_fixed_source_port_is_named_with_the_rule_and_what_to_do():
    rec = recorded("handshake", "reference")
    used = sorted(crafting_ports(rec))
    rec.allowed = [20001, 20002]
    dropped = rules.ports_dropped(rec)
    assert dropped is not None
    assert dropped.ports == tuple(used) and dropped.allowed == (20001, 20002)
    assert dropped.sent == sum(1 for s in rec.seen if not s.from_kernel)
    assert dropped.segments == len(rec.seen)
    text = dropped.text()
    assert text.startswith(f"port rule: {dropped.sent} segments you sent from port {used[0]} were")
    assert "lab.sport (20001) and lab.ports (20001, 20002)" in text
    assert text.endswith(f"do: {rules.PORT_FIX}")
    one = replace(dropped, sent=1, ports=(4242,), allowed=tuple(range(20000, 20016)))
    assert "1 segment you sent from port 4242 was dropped" in one.text()
    assert "(20000, 20001, 20002, 20003, 20004, 20005 and 10 more)" in one.text()
    kernel_only = replace(dropped, sent=0, segments=2)
    assert "the kernel's 2 segments to port" in kernel_only.text()


def test_the_result_of_a_run_on_another_port_says_why_it_scored_nothing():
    lab = get("handshake")
    rec = recorded("handshake", "reference")
    full = result_of(lab, lab.reference(), rec)
    rec.allowed = [20001]
    result = result_of(lab, lab.reference(), rec)
    assert full.score == full.max_score and result.score < full.score
    assert result.foreign_segments == len(rec.seen)
    assert result.dropped == rules.ports_dropped(rec)
    data = result.to_json()
    assert data["ports"] == [20001]
    assert data["port_rule"]["dropped"] == result.dropped.sent  # type: ignore[union-attr]
    assert data["port_rule"]["text"].startswith("port rule: ")


def test_the_grading_report_names_the_rule_instead_of_a_bare_count():
    rec = recorded("handshake", "reference")
    rec.allowed = [20001]
    dropped = rules.ports_dropped(rec)
    assert dropped is not None
    o = Outcome("alice", "handshake", "The handshake", Verdict.SCORED, "ran to the end", 10, 0,
                ports=[20001], foreign_segments=dropped.segments, port_rule=dropped.to_json())  # fmt: skip
    md = outputs.report_markdown([o], {"seed": "s"})
    assert "port rule" in md and "lab.new\\_port()" in md
    html = outputs.report_html([o], {"seed": "s"})
    assert "port rule" in html and "lab.new_port()" in html
    assert "segments from other ports (ignored)" not in md
    assert o.to_json()["port_rule"]["ports"] == list(dropped.ports)
    bare = replace(o, port_rule=None)
    assert "segments from other ports (ignored)" in outputs.report_markdown([bare], {"seed": "s"})


def test_grading_limits_follow_the_labs_clock_in_both():
    limits = rules.graded_limits(20.0)
    assert (limits.wall_s, limits.cpu_s, limits.memory, limits.output) == (
        20.0,
        20,
        256 << 20,
        1 << 20,
    )
    assert rules.graded_limits(0.2).cpu_s == 1 and rules.graded_limits(20.5).cpu_s == 21
    custom = rules.graded_limits(30.0, replace(Limits(), memory=64 << 20))
    assert (custom.memory, custom.cpu_s) == (64 << 20, 30)


def test_a_lab_check_run_past_a_grading_limit_is_told_which_and_what_grading_does():
    limits = rules.graded_limits(20.0)
    assert rules.beyond_limits(1 << 20, Usage(19.9, 200 << 20, 0, 0), limits) == []
    assert rules.beyond_limits(0, None, limits) == []
    notes = rules.beyond_limits(3 << 20, Usage(25.0, 300 << 20, 0, 0), limits)
    assert notes == [
        "grading's limit: 1024 KiB of output; your program wrote 3072 KiB: graded, it is stopped"
        " there (runtime_error)",
        "grading's limit: 20 s of CPU time; your program used 25.0 s: graded, it is stopped there"
        " (time_limit)",
        "grading's limit: 256 MiB of memory; your program's peak was 300 MiB (with the interpreter"
        " and scapy, which a graded run shares with the grader): graded, it may be stopped there"
        " (memory_limit)",
    ]
