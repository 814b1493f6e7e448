"""expect_counters and sysctl steps, labels, and what is refused when a scenario is read: unknown
counters, bad counts, a since with no label, a segment larger than the link's MTU (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcplab.cli import main
from tcplab.engine import counters
from tcplab.engine.scenario import CountersStep, SysctlStep, load
from tcplab.errors import DefinitionError

REPO = Path(__file__).resolve().parents[2]
SNMP = "Tcp: RtoAlgorithm InSegs\nTcp: 1 10\nUdp: InDatagrams\nUdp: 3\n"
NETSTAT = "TcpExt: ListenOverflows SyncookiesSent\nTcpExt: 2 0\nIpExt: InOctets\nIpExt: 99\n"


def write(tmp_path: Path, steps: str, head: str = "") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'[scenario]\ntitle = "t"\n{head}[[step]]\napp = "listen"\n{steps}')
    return path


def test_counters_are_named_as_nstat_names_them() -> None:
    assert counters.parse(SNMP, NETSTAT) == {
        "TcpRtoAlgorithm": 1,
        "TcpInSegs": 10,
        "UdpInDatagrams": 3,
        "TcpExtListenOverflows": 2,
        "TcpExtSyncookiesSent": 0,
        "IpExtInOctets": 99,
    }


def test_this_kernels_counter_names_are_known_at_load() -> None:
    names = counters.known_names()
    assert names is not None
    for name in (
        "TcpExtListenOverflows",
        "TcpExtTCPChallengeACK",
        "TcpInCsumErrors",
        "IpInReceives",
    ):
        assert name in names
    assert counters.unknown("TcpExtListenOverflows") is None
    assert "TcpExtListenOverflows" in (counters.unknown("TcpExtListenOverflow") or "")


@pytest.mark.parametrize(
    ("raw", "delta", "holds"),
    [
        (1, 1, True),
        (1, 2, False),
        (">=1", 3, True),
        (">=1", 0, False),
        ("<=2", 2, True),
        (">0", 0, False),
        ("<3", 2, True),
        ("0", 0, True),
    ],
)
def test_a_count_is_exact_or_a_bound(raw: object, delta: int, holds: bool) -> None:
    assert counters.Bound.parse(raw).holds(delta) is holds


@pytest.mark.parametrize("raw", ["lots", "=>1", -1, True, 1.5, ">= -1"])
def test_a_count_that_is_not_one_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        counters.Bound.parse(raw)


def test_expect_counters_and_sysctl_steps_load(tmp_path: Path) -> None:
    sc = load(
        write(
            tmp_path,
            '[[step]]\nsend = "S 0"\nlabel = "syn"\n'
            '[[step]]\nsysctl = { tcp_rfc1337 = 1, "net.ipv4.tcp_ecn" = 0 }\n'
            '[[step]]\nexpect_counters = { TcpExtListenOverflows = 1, TcpInSegs = ">=1" }\n'
            'since = "syn"\nwithin = 0.2\n',
        )
    )
    sysctl_step, counters_step = sc.steps[2], sc.steps[3]
    assert isinstance(sysctl_step, SysctlStep) and isinstance(counters_step, CountersStep)
    assert sysctl_step.values == {"net.ipv4.tcp_rfc1337": "1", "net.ipv4.tcp_ecn": "0"}
    assert counters_step.since == "syn" and counters_step.within == 0.2
    assert str(counters_step.expect["TcpInSegs"]) == ">= 1"
    assert sc.sysctl_writes() == [("net.ipv4.tcp_rfc1337", "1", 9), ("net.ipv4.tcp_ecn", "0", 9)]


def test_a_congestion_control_name_is_a_sysctl_value(tmp_path: Path) -> None:
    sc = load(
        write(tmp_path, "", '[scenario.sysctl]\n"net.ipv4.tcp_congestion_control" = "reno"\n')
    )
    assert sc.sysctl_writes() == [("net.ipv4.tcp_congestion_control", "reno", 4)]


@pytest.mark.parametrize(
    ("steps", "line", "message", "hint"),
    [
        (
            "[[step]]\nexpect_counters = { TcpExtListenOverflow = 1 }\n",
            6,
            "this kernel has no counter 'TcpExtListenOverflow'",
            "did you mean TcpExtListenOverflows",
        ),
        (
            '[[step]]\nexpect_counters = { TcpInSegs = "many" }\n',
            6,
            "counter TcpInSegs = 'many' is not a count",
            '">=1"',
        ),
        ("[[step]]\nexpect_counters = {}\n", 6, "must be a table of counters", "expect_counters ="),
        (
            '[[step]]\nexpect_counters = { TcpInSegs = 1 }\nsince = "later"\n'
            '[[step]]\nsleep = 0\nlabel = "later"\n',
            6,
            "since = 'later' names no earlier step",
            'add label = "later"',
        ),
        (
            '[[step]]\nsleep = 0\nlabel = "x"\n[[step]]\nsleep = 0\nlabel = "x"\n',
            9,
            "label 'x' is used twice",
            "its own name",
        ),
        ('[[step]]\nsleep = 0\nlabel = "start"\n', 7, 'label "start" is taken', "another name"),
        ("[[step]]\nsysctl = { tcp_ecn = 1.5 }\n", 6, "is not an integer value or a name", "reno"),
        ("[[step]]\nsysctl = { tcp_no_such = 1 }\n", 6, "no sysctl net.ipv4.tcp_no_such", ""),
        (
            '[[step]]\nsend = "P. 1:1601(1600) ack 1"\n',
            6,
            "the segment is 1640 bytes as an IPv4 packet, more than the link's MTU of 1500",
            "send at most 1460 bytes",
        ),
        (
            '[[step]]\nsend = "S 0:1445(1445) <mss 1460,TS val 1 ecr 0>"\n',
            6,
            "1501 bytes",
            "at most 1444 bytes",
        ),
    ],
)
def test_refused_at_load_with_line_and_fix(
    tmp_path: Path, steps: str, line: int, message: str, hint: str
) -> None:
    path = write(tmp_path, steps)
    with pytest.raises(DefinitionError) as exc:
        load(path)
    assert exc.value.message.startswith(f"{path}:{line}: ") and message in exc.value.message
    assert hint in exc.value.hint


def test_a_segment_that_fits_the_mtu_loads(tmp_path: Path) -> None:
    load(write(tmp_path, '[[step]]\nsend = "P. 1:1461(1460) ack 1"\n'))


def test_an_oversize_segment_is_exit_2_not_a_traceback(tmp_path: Path, capsys) -> None:
    """It was `OSError: [Errno 90] Message too long` half-way through the run."""
    path = write(tmp_path, '[[step]]\nsend = "S 0:1600(1600)"\n')
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 2
    assert (
        err[0]
        == f"error: {path}:6: the segment is 1640 bytes as an IPv4 packet, more than the link's MTU of 1500"
    )


def test_a_label_on_a_repeated_step_names_the_first(tmp_path: Path) -> None:
    sc = load(
        write(tmp_path, '[[step]]\nsend = "S 0"\nconn = "c{i}"\nrepeat = 3\nlabel = "flood"\n')
    )
    assert [s.label for s in sc.steps[1:]] == ["flood", "", ""]
