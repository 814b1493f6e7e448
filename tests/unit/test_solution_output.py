"""A solution's output as its author sees it: tails with what was cut, tracebacks folded to the
student's own frames. The traceback texts are real: tests/fixtures/tracebacks/NAME.txt is what
CPython 3.11 printed for NAME.py.txt (run in /tmp/see-tb, scapy and tcplab from a venv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcplab.exercise.output import (
    STDLIB,
    fold_all,
    owner,
    parse,
    program_output,
    raised,
    tail,
)

TRACEBACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracebacks"
MINE = "/tmp/see-tb"


def stderr_of(name: str) -> str:
    return (TRACEBACKS / f"{name}.txt").read_text()


def test_tail_keeps_the_last_lines_and_counts_the_rest():
    text = "\n".join(f"line {i}" for i in range(100)) + "\n"
    t = tail(text, 40)
    assert t.lines[0] == "line 60" and t.lines[-1] == "line 99"
    assert t.cut == 60 and len(t.lines) == 40


def test_tail_of_nothing_is_empty_and_a_long_line_is_cut():
    assert tail("") == tail("\n\n") and tail("").lines == () and tail("").cut == 0
    (only,) = tail("x" * 10_000).lines
    assert len(only) == 500 and only.endswith("…")


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/tmp/see-tb/handshake.py", None),
        ("/tmp/see-tb/helpers/numbers.py", None),
        ("/opt/v/lib/python3.11/site-packages/scapy/packet.py", "scapy"),
        ("/usr/lib/python3/dist-packages/scapy/fields.py", "scapy"),
        ("/usr/lib/python3/dist-packages/six.py", "six"),
        ("/root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py", STDLIB),
        ("/usr/lib/python3.11/socket.py", STDLIB),
        ("<frozen importlib._bootstrap>", STDLIB),
        ("/work/wt/see/tcplab/student.py", "tcplab"),
        ("/home/ana/elsewhere/util.py", None),
    ],
)
def test_each_frame_has_its_owner(path: str, who: str | None):
    assert owner(path, MINE, tcplab_dir="/opt/tcplab/src/tcplab/") == who


def test_a_student_folder_named_tcplab_is_still_theirs():
    mine = "/home/ana/tcplab/labs"
    assert owner("/home/ana/tcplab/labs/handshake.py", mine, "/opt/x/tcplab/") is None
    assert owner("/opt/x/tcplab/student.py", mine, "/opt/x/tcplab/") == "tcplab"


def test_scapy_frames_fold_into_one_line_and_the_students_line_stays():
    err = stderr_of("deep")
    folded = fold_all(err, MINE)
    assert '  File "deep.py", line 3, in <module>' in folded
    assert '    syn = IP(dst="kernel-host") / TCP(dport=7788, flags="S", seq=1000)' in folded
    assert "  … 7 frames in scapy, 1 in the standard library …" in folded
    assert "site-packages" not in folded and "/root/.pyenv" not in folded
    assert folded.splitlines()[-1] == "socket.gaierror: [Errno -2] Name or service not known"
    assert "During handling of the above exception, another exception occurred:" in folded


def test_tcplab_and_scapy_frames_under_the_students_call_are_named_in_order():
    folded = fold_all(stderr_of("student_sr"), MINE).splitlines()
    assert folded == [
        "Traceback (most recent call last):",
        '  File "student_sr.py", line 5, in <module>',
        '    print("answer:", lab.sr(IP(dst=lab.dst)/UDP(dport=53), timeout=0.1))',
        "                     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  … 1 frame in tcplab, 1 in scapy …",
        "IndexError: Layer [TCP] not found",
    ]


def test_what_the_program_raised_names_the_students_innermost_line():
    got = raised(stderr_of("scapy_index"), MINE)
    assert got is not None
    assert (got.file, got.line) == ("scapy_index.py", 4)
    assert got.exception == "IndexError: Layer [UDP] not found"
    assert got.text.splitlines()[-2] == "  … 1 frame in scapy …"


def test_a_chained_traceback_is_kept_whole_with_its_cause():
    got = raised(stderr_of("chained"), MINE)
    assert got is not None
    assert (got.file, got.line, got.exception) == (
        "chained.py",
        6,
        "RuntimeError: the answer was not JSON",
    )
    assert got.text.startswith("Traceback (most recent call last):\n")
    assert "  … 3 frames in the standard library …" in got.text
    assert "The above exception was the direct cause of the following exception:" in got.text
    assert len(parse(got.text)) == 2


def test_a_syntax_error_has_no_header_and_still_points_at_the_line():
    got = raised(stderr_of("syntax"), MINE)
    assert got is not None
    assert (got.file, got.line) == ("syntax.py", 2)
    assert got.exception == "SyntaxError: '(' was never closed"
    assert got.text.splitlines()[0] == '  File "syntax.py", line 2'


def test_a_recursion_keeps_the_repeat_note():
    got = raised(stderr_of("recurse"), MINE)
    assert got is not None and got.line == 2
    assert "  [Previous line repeated 996 more times]" in got.text
    assert got.exception == "RecursionError: maximum recursion depth exceeded"


def test_an_error_raised_in_the_students_own_line_is_kept_as_it_is():
    err = stderr_of("expect_none")
    got = raised(err, MINE)
    assert got is not None and (got.file, got.line) == ("expect_none.py", 3)
    assert "…" not in got.text


def test_tcplabs_own_frames_under_lab_are_folded():
    got = raised(stderr_of("noctx"), MINE)
    assert got is not None and (got.file, got.line) == ("noctx.py", 2)
    assert "  … 2 frames in tcplab …" in got.text
    assert "context.py" not in got.text


def test_a_traceback_the_program_printed_and_survived_is_not_what_it_raised():
    err = stderr_of("scapy_index") + "\nbut I carried on\n"
    assert raised(err, MINE) is None
    assert "  … 1 frame in scapy …" in fold_all(err, MINE)  # still folded where it stands


def test_program_output_for_json_has_both_streams_and_the_traceback():
    out = program_output("sent SYN\n", stderr_of("deep"), f"{MINE}/deep.py", 1).to_json()
    assert out["stdout"] == "sent SYN" and out["stdout_lines_cut"] == 0
    assert "  … 7 frames in scapy, 1 in the standard library …" in out["stderr"]
    assert out["traceback"]["file"] == "deep.py" and out["traceback"]["line"] == 3
    assert out["traceback"]["exception"].startswith("socket.gaierror")


def test_a_program_that_exited_0_raised_nothing():
    out = program_output("", stderr_of("deep"), f"{MINE}/deep.py", 0)
    assert out.raised is None and "traceback" not in out.to_json()


def test_a_multi_line_message_is_the_exceptions_and_its_first_line_names_it():
    err = stderr_of("expect_none").replace("subscriptable", "subscriptable\nsecond line")
    got = raised(err, MINE)
    assert got is not None and got.exception == "TypeError: 'NoneType' object is not subscriptable"
    assert got.text.endswith("second line")


def test_plain_stderr_passes_through_unchanged():
    text = "warning: something\n  File is not a frame\nError: not a traceback\n"
    assert fold_all(text, MINE) == text
    assert parse(text) == []


# -- lab check --pcap/--html: a bad path is refused before any lab is built ----------------------


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    from tcplab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def solution(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "handshake.py"
    path.write_text("print('hi')\n")
    (tmp_path / "a-folder").mkdir()
    return path


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--pcap", "a-folder"], "cannot write --pcap a-folder: a folder, not a regular file"),
        (["--html", "no/such/folder/r.html"], "cannot write --html no/such/folder/r.html"),
        (["--pcap", ""], "cannot write --pcap ''"),
        (["--html", "handshake.py"], "--html handshake.py is your solution"),
        (["--pcap", "x.out", "--html", "./x.out"], "--html ./x.out is also --pcap"),
    ],
)
def test_a_bad_output_path_is_one_error_line_and_exit_2(
    capsys, solution, monkeypatch, args, phrase
):
    from tcplab.netns import topology

    def built(*_: object) -> None:
        raise AssertionError("the path was not checked before anything else")

    monkeypatch.setattr(topology, "require_root", built)
    code, out, err = run_cli(capsys, "lab", "check", "handshake", "handshake.py", *args)
    lines = err.splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert phrase in lines[0]
    assert solution.read_text() == "print('hi')\n"
    assert sorted(p.name for p in solution.parent.iterdir()) == ["a-folder", "handshake.py"]


# -- the text section of `lab check` -------------------------------------------------------------


def _result(stdout: str, stderr: str, exit_code: int | None, timed_out: bool = False) -> object:
    from types import SimpleNamespace

    return SimpleNamespace(
        program_output=lambda: program_output(stdout, stderr, f"{MINE}/deep.py", exit_code),
        exit_code=exit_code,
        timed_out=timed_out,
        lab=SimpleNamespace(time_limit=10.0),
    )


def test_the_section_shows_both_streams_the_cut_and_where_it_stopped(capsys):
    from tcplab.cli.render import program_output as section

    many = "".join(f"step {i}\n" for i in range(100))
    section(_result(many, stderr_of("deep"), 1))
    out = capsys.readouterr().out
    assert "your program printed:" in out
    assert "stdout (its last 40 lines; 60 earlier ones not shown):" in out
    assert "│ step 99" in out and "│ step 59\n" not in out
    assert '│   File "deep.py", line 3, in <module>' in out
    assert "your program stopped at deep.py line 3: socket.gaierror: [Errno -2]" in out


def test_the_section_says_when_nothing_was_printed_and_when_time_ran_out(capsys):
    from tcplab.cli.render import program_output as section

    section(_result("", "", None, timed_out=True))
    out = capsys.readouterr().out
    assert "your program printed nothing" in out
    assert "your program was stopped after 10 s" in out
