"""tcplab lab list/show/start and bad lab commands, without root."""

import json

import pytest

from tcplab.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_list_json_has_name_and_title(capsys):
    code, out, _ = run(capsys, "lab", "list", "--json")
    labs = json.loads(out)
    assert code == 0 and labs and all(lab["name"] and lab["title"] for lab in labs)
    assert labs[0]["name"] == "handshake"


def test_show_prints_the_handout(capsys):
    code, out, _ = run(capsys, "lab", "show", "handshake")
    assert code == 0 and out.startswith("# Lab 1")


def test_start_copies_the_starter_once(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "lab", "start", "handshake")
    assert code == 0 and (tmp_path / "handshake.py").is_file()
    assert "tcplab lab check handshake" in out
    code, _, err = run(capsys, "lab", "start", "handshake")
    assert code == 2 and "already exists" in err and "--force" in err
    assert run(capsys, "lab", "start", "handshake", "--force")[0] == 0


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["lab", "show", "nope"], "no lab named 'nope'"),
        (["lab", "check", "nope"], "no lab named 'nope'"),
        (["lab", "check", "handshake", "/no/such/file.py"], "no solution file"),
        (["lab", "check", "handshake", "x.py", "--reference"], "not both"),
    ],
)
def test_bad_lab_commands_are_usage_errors(capsys, args, phrase):
    code, _, err = run(capsys, *args)
    assert code == 2 and phrase in err.splitlines()[0]


def test_lab_check_and_shell_need_root(capsys, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert run(capsys, "lab", "check", "handshake", "--reference")[0] == 3
    assert run(capsys, "shell")[0] == 3


def test_the_student_context_is_required(monkeypatch):
    from tcplab.errors import EnvironmentProblem
    from tcplab.student import Lab

    monkeypatch.delenv("TCPLAB_CONTEXT", raising=False)
    with pytest.raises(EnvironmentProblem, match="no lab context"):
        Lab()
