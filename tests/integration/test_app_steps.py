"""Every app call a scenario can make, made by the runner on the real kernel: the socket each acts on
(the conn's, the listener's), the arguments from the file, what the report says of each reply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli


def flat(text: str) -> str:
    """The ladder's text as one line: its lanes' bars and the wrapping gone."""
    return " ".join(text.replace("│", " ").split())


pytestmark = pytest.mark.netns
SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "every-app-call.toml"


def test_every_app_call_a_scenario_can_make_runs_on_the_kernel() -> None:
    out = run_cli("run", str(SCENARIO))
    assert out.returncode == 0, out.stdout + out.stderr
    for line in (
        "app listen(port 7788, backlog 4)",
        "app setsockopt(SO_REUSEADDR = 1)",  # on the listener (target)
        "app accept -> connection from port 40000",
        "app setsockopt(TCP_NODELAY = 1)",
        "app recv -> b'hel'",  # bytes = 3 of the 5 that came
        "app shutdown(wr)",
        "app setsockopt(SO_LINGER = (1, 0))",
        "observed R. 2:2(0) ack 6",  # SO_LINGER 0 (and unread data): close() resets
        "19/19 checks passed",
    ):
        assert line in flat(out.stdout), line


def test_a_refused_app_call_is_a_mismatch_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "accept-nothing.toml"
    path.write_text(
        '[scenario]\ntitle = "accept with nothing to accept"\n'
        '[[step]]\napp = "listen"\n[[step]]\napp = "accept"\ntimeout = 0.1\n'
    )
    out = run_cli("run", str(path))
    assert out.returncode == 1, out.stdout + out.stderr
    assert (
        "line 6: app accept failed: no connection from port 40000 to accept on listener 1 within 0.1 s"
        in flat(out.stdout)
    )


HANDSHAKE = (
    '[[step]]\nsend = "S 0:0(0) win 64240"\n'
    '[[step]]\nexpect = "S. 0:0(0) ack 1 <mss 1460>"\n'
    '[[step]]\nsend = ". 1:1(0) ack 1"\n'
)


def run_text(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "s.toml"
    path.write_text('[scenario]\ntitle = "t"\n' + text)
    out = run_cli("run", str(path))
    return out.returncode, out.stdout + out.stderr


def test_a_recv_that_gets_nothing_fails_an_expected_result(tmp_path: Path) -> None:
    """The old defect: `app recv -> b''` passed; an unmet expectation now fails, with both sides."""
    code, out = run_text(
        tmp_path,
        '[[step]]\napp = "listen"\n' + HANDSHAKE + '[[step]]\napp = "accept"\n'
        '[[step]]\napp = "recv"\ntimeout = 0.2\nexpect_data = "hello"\n',
    )
    assert code == 1, out
    assert "app recv returns the data: expected b'hello', got nothing (timed out)" in out


def test_accept_waits_for_the_conns_own_port_and_says_which_port_came(tmp_path: Path) -> None:
    text = '[[step]]\napp = "listen"\n' + HANDSHAKE.replace("[[step]]\n", '[[step]]\nconn = "a"\n')
    code, out = run_text(tmp_path, text + '[[step]]\nconn = "b"\napp = "accept"\ntimeout = 0.3\n')
    assert code == 1, out
    assert (
        "app accept failed: no connection from port 40001 to accept on listener 1 within 0.3 s "
        "(the kernel offered port 40000)" in flat(out)
    )


def test_two_completed_connections_each_conn_gets_its_own_socket() -> None:
    out = run_cli("run", str(REPO / "scenarios" / "app-accept-by-port.toml"))
    assert out.returncode == 0, out.stdout + out.stderr
    first = out.stdout.index("app accept -> connection from port 40001")  # conn b
    assert first < out.stdout.index("app accept -> connection from port 40000")  # conn a
    assert "app recv -> b'from b'" in flat(out.stdout)


def test_siocinq_leaves_the_fin_out_where_rqueue_counts_it() -> None:
    """1000 bytes and a FIN unread: SIOCINQ says 1000, sock_diag's rqueue 1001."""
    out = run_cli("run", str(REPO / "scenarios" / "app-results.toml"), "--json")
    assert out.returncode == 0, out.stderr
    checks = {c["name"]: c for c in json.loads(out.stdout)[0]["report"]["checks"]}
    inq = checks["line 61: app ioctl SIOCINQ value"]
    assert inq["ok"] and inq["observed"] == "1000"
    rqueue = checks["the kernel's socket (line 56)'s rqueue is 1001"]
    assert rqueue["ok"] and rqueue["observed"] == "1001"


def test_options_set_on_the_listeners_socket_before_listen(tmp_path: Path) -> None:
    code, out = run_text(
        tmp_path,
        '[[step]]\napp = "socket"\ntarget = "listener"\n'
        '[[step]]\napp = "setsockopt"\ntarget = "listener"\nname = "TCP_MAXSEG"\nvalue = 1000\n'
        '[[step]]\napp = "listen"\n'
        '[[step]]\napp = "getsockopt"\ntarget = "listener"\nname = "TCP_INFO"\n'
        'expect_info = { state = "LISTEN" }\n'
        '[[step]]\nsend = "S 0:0(0) win 64240 <mss 1460>"\n'
        '[[step]]\nexpect = "S. 0:0(0) ack 1 <mss 1000>"\n',
    )
    assert code == 0, out
    assert "app socket -> socket 1" in out and "app listen(port 7788" in out


def test_a_listen_step_takes_no_crafting_port(tmp_path: Path) -> None:
    """Regression: a listen step once made the default conn, so conn "a" got crafting port + 1."""
    path = tmp_path / "two-conns.toml"
    path.write_text(
        '[scenario]\ntitle = "two conns after a listen"\ncrafting_port = 41000\n'
        '[[step]]\napp = "listen"\n'
        '[[step]]\nconn = "a"\nsend = "S 0:0(0)"\n'
        '[[step]]\nconn = "a"\nexpect = "S. 0:0(0) ack 1 <mss 1460>"\n'
        '[[step]]\nconn = "b"\nsend = "S 0:0(0)"\n'
        '[[step]]\nconn = "b"\nexpect = "S. 0:0(0) ack 1 <mss 1460>"\n'
    )
    out = run_cli("run", str(path), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    ladder = json.loads(out.stdout)[0]["report"]["ladder"]
    ports = [
        int(e["src"].rsplit(":", 1)[1])
        for e in ladder
        if e["kind"] == "segment" and e["from"] == "crafting"
    ]
    assert ports == [41000, 41001]
