"""Scenario files: the corpus parses, every scenario has a mutated twin, malformed files get exit 2
with file, line and the fix (no root needed: files are checked before anything runs)."""

from pathlib import Path

import pytest

from tcplab.cli import main
from tcplab.engine.scenario import collect, load
from tcplab.model.notation import parse_pattern

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").glob("*.toml"))
MUTANTS = sorted((REPO / "scenarios" / "mutants").glob("*.toml"))
MALFORMED = REPO / "tests" / "fixtures" / "malformed"


def test_the_corpus_covers_the_syllabus():
    names = {p.stem for p in SCENARIOS}
    for must in (
        "passive-open",
        "active-open",
        "data-on-third-segment",
        "syn-to-closed-port",
        "ack-to-listener",
        "synack-to-listener",
        "syn-sent-bad-ack",
        "syn-on-established",
        "rst-exact",
        "rst-in-window",
        "rst-out-of-window",
        "passive-close",
        "active-close",
        "time-wait-fin-again",
        "syn-into-time-wait",
        "simultaneous-close",
        "simultaneous-open",
        "half-close",
        "synack-retransmission",
        "syn-backlog-no-cookies",
        "syn-backlog-cookies",
        "abortive-close",
    ):
        assert must in names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_parses_and_has_a_mutant_that_names_its_failure(path):
    sc = load(path)
    assert sc.title and sc.steps and not sc.mutant_of
    twin = REPO / "scenarios" / "mutants" / path.name
    mutant = load(twin)
    assert mutant.mutant_of == sc.name and mutant.fails_with
    assert mutant.steps != sc.steps


def test_no_mutant_without_its_scenario():
    assert {p.name for p in MUTANTS} == {p.name for p in SCENARIOS}


@pytest.mark.parametrize(
    ("name", "line", "phrase"),
    [
        ("bad-toml", 2, "not valid TOML"),
        ("unknown-step", 8, "unknown step 'fly'"),
        ("bad-notation", 8, "END must be SEQ + LEN"),
        ("impossible-wildcard", 8, "needs a number"),
        ("ack-without-flag", 11, "needs the ACK flag"),
        ("unknown-key", 10, "unknown key 'timeout'"),
        ("bad-state", 8, "unknown TCP state 'HALF_OPEN'"),
        ("sysctl-not-a-table", 3, "sysctl must be a table"),
        ("backlog-text", 5, "backlog = 'lots' is not a number"),
        ("accept-before-listen", 4, "accept before any listen"),
        ("impossible-timer", 6, "never has the timewait timer"),
    ],
)
def test_a_malformed_scenario_is_exit_2_with_file_line_and_fix(capsys, name, line, phrase):
    path = MALFORMED / f"{name}.toml"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2
    assert err[0].startswith(f"error: {path}:{line}: ") and phrase in err[0]
    assert err[1].startswith("hint: ") and len(err) == 2


def test_a_missing_file_or_empty_folder_is_exit_2(capsys, tmp_path):
    for args in (["run", str(tmp_path / "nope.toml")], ["run", str(tmp_path)]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
        assert capsys.readouterr().err.startswith("error: ")


def test_repeat_expands_conn_names():
    sc = load(REPO / "scenarios" / "syn-backlog-no-cookies.toml")
    conns = [s.conn for s in sc.steps if s.kind == "send"]
    assert conns == ["c1", "c2", "c3"]


def test_collect_takes_files_and_folders():
    assert len(collect([str(REPO / "scenarios")])) == len(SCENARIOS)
    assert len(collect([str(SCENARIOS[0]), str(SCENARIOS[1])])) == 2


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("S. 0:0(0) ack 1 <mss 1460,*>", True),
        (". *:*(0) ack * win *", True),
        ("R 5", True),
        ("* 0:0(0)", False),
        ("S 0:*(*)", True),
        ("S *:5(5)", False),
    ],
)
def test_expect_notation(text, ok):
    if ok:
        assert parse_pattern(text, wild_ok=True).flags
    else:
        with pytest.raises(ValueError):
            parse_pattern(text, wild_ok=True)
