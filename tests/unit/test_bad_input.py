"""Every bad input gets exactly one `error:` line, one `hint:` line and its exit code, with nothing
made: no file, and nothing that needs root (the commands run as a user without root here, so one
that got as far as building a lab would exit 3 "needs root" instead of the code expected).

The cases from the trial of issue 17 (the 26 it lists, and more of the same kinds) are each one row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcplab.cli import main

REPO = Path(__file__).resolve().parents[2]
LONG = REPO / "scenarios" / "synack-retransmission.toml"
OK_SCENARIO = (REPO / "scenarios" / "passive-open.toml").read_text()
HEAD = '[scenario]\ntitle = "t"\n'
LISTEN = '[[step]]\napp = "listen"\n'


def scenario(head: str = "", steps: str = LISTEN) -> str:
    return HEAD + head + steps


# name -> file content (str or bytes) written in the test's folder; "fifo:", "link:", "dir:" make
# those instead of files
FILES: dict[str, str | bytes] = {
    "ok.toml": OK_SCENARIO,
    "nested.toml": scenario("x = " + "[" * 5000 + "]" * 5000 + "\n"),
    "latin1.toml": (HEAD + '# caf\xe9\n[[step]]\napp = "listen"\n').encode("latin-1"),
    "ports.toml": scenario(
        "crafting_port = 65530\n", '[[step]]\nsend = "S 0"\nconn = "c{i}"\nrepeat = 10\n'
    ),
    "fifo.toml": "fifo:",
    "link.toml": "link:ok.toml",
    "huge-repeat.toml": scenario("", "[[step]]\nsleep = 0\nrepeat = 1000\n" * 1000),
    "tenmb.toml": scenario("description = '" + "x" * (10 << 20) + "'\n"),
    "options44.toml": scenario(
        "", '[[step]]\nsend = "S 0 <' + ",".join(["mss 1460"] * 11) + '>"\n'
    ),
    "sysctl-newline.toml": scenario('[scenario.sysctl]\n"net.ipv4.tcp_syncookies" = "1\\n2"\n'),
    "sysctl-bool.toml": scenario('[scenario.sysctl]\n"net.ipv4.tcp_syncookies" = true\n'),
    "sysctl-float.toml": scenario('[scenario.sysctl]\n"net.ipv4.tcp_syncookies" = 1.5\n'),
    "bigint.toml": scenario("port = " + "9" * 5000 + "\n"),
    "hexport.toml": scenario("port = 0x" + "f" * 500 + "\n"),
    "unicode-seq.toml": scenario("", '[[step]]\nsend = "S \u0663"\n'),
    "unicode-ack.toml": scenario("", '[[step]]\nsend = "S. 0 ack \u00b2"\n'),
    "long-waits.toml": scenario("", "[[step]]\nsleep = 600\nrepeat = 7\n"),
    "timer-list.toml": scenario("", '[[step]]\nexpect_state = "LISTEN"\ntimer = [1]\n'),
    "app-list.toml": scenario("", "[[step]]\napp = [1]\n"),
    "many-steps.toml": scenario("", "[[step]]\nsleep = 0\n" * 5001),
    "within-nan.toml": scenario("", '[[step]]\nexpect = "R 0"\nwithin = nan\n'),
    "emptydir": "dir:",
    "dirscen/x.toml": "dir:",
    "long.toml": LONG.read_text(),
    "pcapdir/ok.pcap": "link:/etc/passwd",
    "afile": "x",
    "fifo": "fifo:",
    "link": "link:/etc/hostname",
    "solution-dir.py": "dir:",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bad inputs, made once (a 10 MB file among them)."""
    tmp_path = tmp_path_factory.mktemp("bad-input")
    for name, content in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "fifo:":
            os.mkfifo(path)
        elif isinstance(content, str) and content.startswith("link:"):
            path.symlink_to(content[5:])
        elif content == "dir:":
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return tmp_path


@pytest.fixture
def folder(files: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(files)
    monkeypatch.setattr("os.geteuid", lambda: 1000)  # anything needing root stops with exit 3
    return files


def listing(top: Path) -> dict[str, int]:
    """Every entry under `top` with its size (a FIFO or folder counts 0), without following links."""
    out = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = Path(root, name)
            st = p.lstat()
            out[str(p.relative_to(top))] = st.st_size if p.is_file() else 0
    return out


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return code if isinstance(code, int) else 1, out, err


def one_error(err: str) -> tuple[str, str]:
    """The error and hint lines; fails unless stderr is exactly those two lines."""
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), err
    assert "\x1b" not in err and "Traceback" not in err
    assert len(lines[0]) < 500, "an error line echoes at most a few hundred characters"
    return lines[0], lines[1]


CASES = [
    # -- issue 17's list, item 10 ------------------------------------------------------------
    (["handshake", "--target", "ns2:\u00b2"], 2, "not a number: '\u00b2'", "digits 0-9"),
    (["send", "--target", "ns2:\u0663"], 2, "not a number", "digits 0-9"),
    (["run", "nested.toml"], 2, "nested too deeply", "scenarios/README.md"),
    (
        ["run", "latin1.toml"],
        2,
        "latin1.toml:3: not UTF-8 text: the byte at offset 28 is 0xe9",
        "as UTF-8",
    ),
    (["run", "ports.toml"], 2, "crafting_port = 65530 and 10 connections", "65526 or lower"),
    (["run", "ok.toml", "--junit", "."], 2, "--junit .: a folder, not a regular file", "a file"),
    (["run", "ok.toml", "--pcap", "/proc/sys"], 2, "/proc/sys: a folder where no file", "folder"),
    (["run", "fifo.toml"], 2, "fifo.toml: a FIFO, not a regular file", "regular .toml"),
    (["run", "huge-repeat.toml"], 2, "more than 5000 steps once repeat", "lower repeat"),
    (["run", "tenmb.toml"], 2, "tenmb.toml: larger than 1.0 MiB (10.0 MiB)", "at most 1 MiB"),
    (["run", "options44.toml"], 2, "the options take 44 bytes", "segment notation"),
    (["send", "--options", ",".join(["mss 1460"] * 11)], 2, "take 44 bytes", "fewer options"),
    (["handshake", "--options", ",".join(["mss 1460"] * 11)], 2, "take 44 bytes", "fewer"),
    (["run", "--quick", str(LONG)], 2, "every scenario given has long timers", "drop --quick"),
    (["run", "sysctl-newline.toml"], 2, "= '1\\n2' is not an integer value", "4096 131072"),
    (["handshake", "--timeout", "nan"], 2, "--timeout nan is not a number of seconds", "0.001"),
    (["lab"], 2, "error: no command given", "commands: list, show, start, check"),
    ([], 2, "error: no command given", "commands: setup, teardown"),
    # -- more of the same kinds ----------------------------------------------------------------
    (["handshake", "--timeout", "inf"], 2, "seconds must be finite", "from 0.001 to 60"),
    (["handshake", "--timeout", "-1"], 2, "--timeout -1: too short", "from 0.001 to 60"),
    (["handshake", "--timeout", "0"], 2, "too short", "from 0.001 to 60"),
    (["handshake", "--timeout", "61"], 2, "too long (at most 60 s)", "from 0.001 to 60"),
    (["send", "--wait", "nan"], 2, "--wait nan is not a number", "--wait 1"),
    (["send", "--wait", "1e400"], 2, "--wait inf: seconds must be finite", "--wait 1"),
    (["send", "--target", "ns2:" + "9" * 5000], 2, "out of range: 999999999999…", "1 to 65535"),
    (["send", "--target", "ns2:\uff18\uff10"], 2, "not a number", "digits 0-9"),
    (["send", "--target", "ns2:+80"], 2, "not a number", "digits 0-9"),
    (["send", "--target", "ns2: 80 0"], 2, "not a number", "digits 0-9"),
    (["send", "--sport", "\u0661\u0662"], 2, "'--sport'", "see 'tcplab send --help'"),
    (["send", "--seq", "9" * 5000], 2, "'--seq'", "see 'tcplab send --help'"),
    (["send", "--options", "mss \u0661\u0664\u0666\u0660"], 2, "other than ASCII", "--options"),
    (["send", "--flags", "\x1b[2J"], 2, "'\\x1b'", "--flags S"),
    (["--\x1b]0;owned\x07"], 2, "--\\x1b]0;owned\\x07", "see 'tcplab --help'"),
    (["send", "--pcap", "fifo"], 2, "--pcap fifo: a FIFO, not a regular file", "out.pcap"),
    (["handshake", "--pcap", "fifo"], 2, "a FIFO, not a regular file", "out.pcap"),
    (["send", "--pcap", "link"], 2, "--pcap link: a symbolic link", "out.pcap"),
    (["send", "--pcap", "/dev/null"], 2, "a character device, not a regular file", "out.pcap"),
    (["send", "--pcap", "/proc/sys"], 2, "a folder, not a regular file", "out.pcap"),
    (["send", "--pcap", ""], 2, "an empty path", "out.pcap"),
    (["run", "ok.toml", "--junit", "fifo"], 2, "--junit fifo: a FIFO", "a file in a folder"),
    (["run", "ok.toml", "--junit", "link"], 2, "--junit link: a symbolic link", "a file"),
    (["run", "ok.toml", "--junit", "no/such/x.xml"], 2, "No such file or directory", "a file"),
    (["run", "ok.toml", "--junit", "/proc/x.xml"], 2, "--junit /proc/x.xml", "a file"),
    (["run", "ok.toml", "--pcap", "afile"], 2, "--pcap afile: a regular file, not a", "folder"),
    (["run", "ok.toml", "--pcap", "fifo"], 2, "--pcap fifo: a FIFO, not a folder", "folder"),
    (["run", "ok.toml", "--pcap", "nowhere"], 2, "--pcap nowhere: No such file", "folder"),
    (["run", "ok.toml", "--pcap", "pcapdir"], 2, "ok.pcap: a symbolic link", "folder"),
    (["run", "link.toml"], 2, "link.toml: a symbolic link; name the file itself", "regular"),
    (["run", "dirscen"], 2, "x.toml: a folder, not a regular file", "regular .toml"),
    (["run", "emptydir"], 2, "no scenario files in emptydir", "name .toml files"),
    (["run", "/dev/null"], 2, "/dev/null: a character device", "regular .toml"),
    (["run", ""], 2, "an empty scenario path", "name .toml files"),
    (["run", "bigint.toml"], 2, "not valid TOML for a scenario: exceeds the limit", "32 bits"),
    (["run", "hexport.toml"], 2, "… is not a number from 1 to 65535", "port = 1"),
    (["run", "unicode-seq.toml"], 2, "bad sequence field '\u0663'", "segment notation"),
    (["run", "unicode-ack.toml"], 2, "ack '\u00b2' is not a number (digits 0-9)", "notation"),
    (["run", "sysctl-bool.toml"], 2, "= True is not an integer value", "= 1"),
    (["run", "sysctl-float.toml"], 2, "= 1.5 is not an integer value", "= 1"),
    (["run", "long-waits.toml"], 2, "add up to 4200 s, more than 3600 s", "lower repeat"),
    (["run", "timer-list.toml"], 2, "unknown timer [1]", "use one of"),
    (["run", "app-list.toml"], 2, "unknown app call [1]", "use one of"),
    (["run", "many-steps.toml"], 2, "5001 steps, more than 5000", "several scenarios"),
    (["run", "within-nan.toml"], 2, "within = nan is not a number of seconds", "within = 0.5"),
    (["run", "ok.toml", "-j", "0"], 2, "'--jobs'", "see 'tcplab run --help'"),
    (
        ["lab", "check", "handshake", "fifo"],
        2,
        "fifo is a FIFO; only a regular file is run",
        ".py file",
    ),
    (["lab", "check", "handshake", "link"], 2, "link is a symbolic link; only", "named itself"),
    (
        ["lab", "check", "handshake", "solution-dir.py"],
        2,
        "is a folder; only a regular file",
        ".py",
    ),
    (["lab", "check", "handshake", "/dev/null"], 2, "null is a character device; only", ".py"),
    (["lab", "check", "handshake", "nothing.py"], 2, "no solution file nothing.py", "lab start"),
    (["lab", "show", "../../etc"], 2, "no lab named '../../etc'", "tcplab lab list"),
    (["lab", "start", ""], 2, "no lab named ''", "tcplab lab list"),
]


@pytest.mark.parametrize(
    ("args", "code", "message", "hint"), CASES, ids=[" ".join(c[0])[:60] for c in CASES]
)
def test_bad_input_is_one_error_and_hint_and_nothing_made(
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    args: list[str],
    code: int,
    message: str,
    hint: str,
) -> None:
    before = listing(folder)
    got, out, err = run(capsys, *args)
    error, hint_line = one_error(err)
    assert got == code, err
    assert message in error
    assert hint in hint_line
    assert out == ""
    assert listing(folder) == before, "a bad input left something behind"


USAGE = [
    ["run"],
    ["lab", "show"],
    ["lab", "start"],
    ["lab", "check"],
    ["grade"],
    ["setup", "--nope"],
    ["teardown", "--nope"],
    ["status", "--nope"],
    ["sockets", "a", "b"],
    ["handshake", "extra"],
    ["send", "--flags"],
    ["run", "x.toml", "--bogus"],
    ["lab", "list", "extra"],
    ["lab", "nope"],
    ["shell", "extra"],
    ["grade", "subs", "--out", "o"],
    ["nope"],
    ["--nope"],
]


@pytest.mark.parametrize("args", USAGE, ids=[" ".join(a) for a in USAGE])
def test_a_usage_error_is_one_line_never_the_whole_usage(
    capsys: pytest.CaptureFixture[str], folder: Path, args: list[str]
) -> None:
    code, out, err = run(capsys, *args)
    error, hint = one_error(err)
    assert code == 2
    assert "Usage:" not in err and "Options:" not in err
    assert not error.endswith(".")
    assert hint.startswith("hint: see 'tcplab") or "COMMAND" in hint
    assert out == ""


def test_lab_start_in_a_folder_nobody_can_write_is_an_environment_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/proc")  # not even root can make a file here
    code, out, err = run(capsys, "lab", "start", "handshake")
    error, hint = one_error(err)
    assert code == 3
    assert "cannot write handshake.py in /proc" in error
    assert "cd to a folder you can write to" in hint


def test_lab_start_in_a_removed_folder_is_an_environment_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    code, _out, err = run(capsys, "lab", "start", "handshake")
    error, _hint = one_error(err)
    assert code == 3 and "cannot find the current folder" in error


def test_lab_start_replaces_a_symlink_instead_of_writing_through_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    work = tmp_path / "work"
    work.mkdir()
    (work / "handshake.py").symlink_to(victim)
    monkeypatch.chdir(work)
    code, _out, err = run(capsys, "lab", "start", "handshake")
    assert code == 2 and "already exists" in err
    code, _out, _err = run(capsys, "lab", "start", "handshake", "--force")
    assert code == 0
    assert victim.read_text() == "keep me"
    assert not (work / "handshake.py").is_symlink()
    assert "Lab" in (work / "handshake.py").read_text()
    assert sorted(p.name for p in work.iterdir()) == ["handshake.py"]


def test_lab_start_refuses_a_folder_in_the_way_even_with_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "handshake.py").mkdir()
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "lab", "start", "handshake", "--force")
    error, _hint = one_error(err)
    assert code == 2 and "is a folder" in error
    assert (tmp_path / "handshake.py").is_dir()


@pytest.mark.parametrize(
    "args",
    [
        ["handshake", "--pcap", "fifo"],
        ["send", "--pcap", "fifo"],
        ["run", "fifo.toml"],
        ["run", "ok.toml", "--junit", "fifo"],
    ],
)
def test_a_fifo_never_makes_a_command_hang(tmp_path: Path, args: list[str]) -> None:
    """As a real process, with a deadline: opening a FIFO with no other end blocks forever."""
    os.mkfifo(tmp_path / "fifo")
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "ok.toml").write_text(OK_SCENARIO)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "tcplab", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    error, _hint = one_error(done.stderr)
    assert "a FIFO" in error
