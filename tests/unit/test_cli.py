"""The command line without root: parsing, bad input, exit codes, start-up weight."""

import subprocess
import sys

import pytest

from tcplab import __version__
from tcplab.cli import main
from tcplab.engine.target import parse_target
from tcplab.errors import UsageError


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ns2:0", "out of range"),
        ("ns2:65536", "out of range"),
        ("ns2:", "is empty"),
        ("ns2:http", "not a number"),
        ("ns2", "has no port"),
        (":7788", "no namespace or address"),
        ("ns2:-1", "not a number"),
        ("", "has no port"),
    ],
)
def test_bad_targets_are_usage_errors(text, message):
    with pytest.raises(UsageError, match=message):
        parse_target(text)


def test_good_targets_parse():
    assert parse_target("ns2:7788") == ("ns2", 7788)
    assert parse_target("10.77.0.2:1") == ("10.77.0.2", 1)
    assert parse_target(" ns2:65535 ") == ("ns2", 65535)


@pytest.mark.parametrize("target", ["ns2:0", "ns2:65536", "ns2:", "ns2:text"])
@pytest.mark.parametrize("command", ["handshake", "send"])
def test_bad_port_in_target_gives_one_error_line_and_exit_2(capsys, command, target):
    code, out, err = run(capsys, command, "--target", target)
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and "port" in lines[0]
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["send", "--flags", "SX"], "unknown TCP flag"),
        (["send", "--flags", ""], "empty flags"),
        (["send", "--options", "mss"], "unknown TCP option"),
        (["send", "--sport", "70000"], "--sport"),
        (["send", "--seq", "4294967296"], "--seq"),
        (["handshake", "--options", "wscale 999"], "8 bits"),
        (["handshake", "--nope"], "No such option"),
        (["handshake", "--pcap", "/no/such/dir/x.pcap"], "No such file or directory"),
        (["send", "--pcap", "/proc/tcplab-test.pcap"], "cannot write"),
        (["send", "--data", "x" * 1500], "do not fit one segment"),
        (["send", "--options", ",".join(["mss 1460"] * 11)], "a TCP header holds at most 40"),
        (["handshake", "--data", "y" * 1449], "do not fit one segment"),
        (["setup", "--subnet", "127.0.0.0/24"], "loopback"),
        (["setup", "--subnet", "224.1.0.0/24"], "multicast"),
        (["setup", "--subnet", "0.0.0.0/24"], "this-network"),
        (["setup", "--subnet", "255.255.255.252/30"], "reserved"),
        (["frobnicate"], "No such command"),
        (["setup", "--crafting", "bad/name"], "bad crafting namespace name"),
        (["setup", "--crafting", "same", "--kernel", "same"], "both 'same'"),
        (["setup", "--subnet", "10.0.0.0/31"], "no room"),
        (["setup", "--subnet", "banana"], "bad subnet"),
        (["setup", "--port", "0"], "out of range"),
    ],
)
def test_bad_input_is_one_clear_line_with_exit_2(capsys, args, phrase):
    code, out, err = run(capsys, *args)
    assert code == 2, err
    assert err.startswith("error: ") and phrase in err.splitlines()[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [["setup"], ["teardown"], ["status"], ["sockets"], ["handshake"], ["send", "--flags", "S"]],
)
def test_every_command_needs_root_and_says_so_with_exit_3(capsys, monkeypatch, args):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    code, _out, err = run(capsys, *args)
    assert code == 3
    assert "needs root" in err and "sudo" in err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"tcplab {__version__}"


@pytest.mark.parametrize("command", ["setup", "teardown", "status", "sockets", "handshake", "send"])
def test_every_command_has_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "Usage: tcplab " + command in out


def test_help_does_not_load_scapy_or_pyroute2():
    code = (
        "import sys; from tcplab.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('scapy', 'pyroute2', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")
