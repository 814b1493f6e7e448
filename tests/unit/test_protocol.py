"""The application's protocol: one definition of each call, from which the server, the proxy, the
scenario schema and the student API are derived; anything malformed becomes a typed Error reply,
never an exception, in the decoder and in the real server process (which must keep answering)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcplab.app import protocol as p
from tcplab.app.server import HANDLERS, SOCKOPT_NAMES
from tcplab.engine.scenario import APP_CALLS
from tcplab.grade.proxy import ALLOWED, OFFERED

REPO = Path(__file__).resolve().parents[2]

# -- strategies ------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(1 << 70), 1 << 70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# values that sit on and around every argument's limits (and some of the wrong type)
edge_values = st.sampled_from(
    [0, 1, -1, 2, 128, 4096, 4097, 65535, 65536, 1 << 20, (1 << 20) + 1, (1 << 31) - 1, 1 << 31,
     0.0, 0.001, -0.5, 10.0, 10.5, math.nan, math.inf, True, False, None, "", "wr", "rdwr", "x",
     "utf-8", "base64", "aGk=", "SO_LINGER", "TCP_NODELAY", "10.77.0.1", "0.0.0.0", [1, 0], [1],
     [1, 2, 3], ["a", 1], {}, []]
)  # fmt: skip


@st.composite
def call_objects(draw: st.DrawFn) -> dict[str, Any]:
    """JSON objects shaped like calls: a real op (or not), its arguments (or others), with values
    from the edges, of the wrong type, or anything."""
    op = draw(st.sampled_from([*p.CALLS, "nonsense", "", "call_ping"]) | json_values)
    names = list(p.args_of(p.CALLS[op])) if isinstance(op, str) and op in p.CALLS else []
    keys = draw(
        st.lists(
            st.sampled_from([*names, "extra", "op"]) if names else st.text(max_size=6), max_size=5
        )
    )
    return {"op": op, **{k: draw(edge_values | json_values) for k in keys}}


def valid_value(spec: p.Arg) -> st.SearchStrategy[Any]:
    """Any value the protocol accepts for this argument."""
    if spec.kind is p.Kind.TEXT:
        return st.sampled_from(spec.choices) if spec.choices else st.text(max_size=30)
    if spec.kind is p.Kind.ADDRESS:  # in the server's own empty namespace: nothing is reachable
        return st.ip_addresses(v=4).map(str)
    if spec.kind is p.Kind.FLAG:
        return st.booleans()
    lo, hi = int(spec.lo or 0), int(spec.hi or 1 << 31)
    if spec.kind is p.Kind.SECONDS:
        return st.floats(min_value=spec.lo or 0, max_value=spec.hi or 10)
    number = st.integers(lo, hi)
    return number | st.tuples(number, number) if spec.kind is p.Kind.OPTION else number


@st.composite
def valid_calls(draw: st.DrawFn) -> p.Call[Any]:
    cls = draw(st.sampled_from(list(p.CALLS.values())))
    args = {}
    for name, (spec, f) in p.args_of(cls).items():
        if p.required(f) or draw(st.booleans()):
            args[name] = draw(valid_value(spec))
    return cls(**args)


# -- the decoder -----------------------------------------------------------------------------------
@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_call_or_an_error_reply(line: bytes) -> None:
    got = p.read_call(line)
    assert isinstance(got, (p.Call, p.Error))
    if isinstance(got, p.Error):
        assert json.loads(p.encode_reply(got)) == {
            "ok": False,
            "error": got.error,
            "reason": got.reason.value,
        }


@given(json_values | call_objects())
def test_any_json_decodes_to_a_call_or_an_error_reply_that_says_why(data: Any) -> None:
    got = p.read_call(json.dumps(data))
    assert isinstance(got, (p.Call, p.Error))
    if isinstance(got, p.Error):
        assert got.error and got.reason is not p.Reason.FAILED and len(got.error) < 300
    else:  # what was accepted is what was asked for
        assert got.op == data["op"] and set(got.to_wire()) <= set(data)
        assert p.read_call(p.encode_call(got)) == got


@given(valid_calls())
def test_every_valid_call_survives_the_wire(call: p.Call[Any]) -> None:
    assert p.read_call(p.encode_call(call)) == call


def test_malformed_calls_get_the_reason_a_client_can_act_on() -> None:
    cases = {
        b"[": p.Reason.MALFORMED,
        b"[" * 100_000: p.Reason.MALFORMED,
        b"1" * 5000: p.Reason.MALFORMED,  # more digits than Python converts
        b"\xff\xfe": p.Reason.MALFORMED,
        b"[1]": p.Reason.MALFORMED,
        b'{"op": 1}': p.Reason.UNKNOWN_CALL,
        b'{"op": "call_ping"}': p.Reason.UNKNOWN_CALL,
        b'{"op": "listen"}': p.Reason.BAD_ARGUMENT,
        b'{"op": "listen", "port": 80, "shell": 1}': p.Reason.BAD_ARGUMENT,
        b'{"op": "listen", "port": "80"}': p.Reason.BAD_ARGUMENT,
        b'{"op": "listen", "port": true}': p.Reason.BAD_ARGUMENT,
        b'{"op": "accept", "id": 1, "timeout": NaN}': p.Reason.BAD_ARGUMENT,
        b'{"op": "shutdown", "id": 1, "how": "both"}': p.Reason.BAD_ARGUMENT,
        b'{"op": "setsockopt", "id": 1, "name": "SO_LINGER", "value": [1]}': p.Reason.BAD_ARGUMENT,
    }
    for line, reason in cases.items():
        got = p.read_call(line)
        assert isinstance(got, p.Error) and got.reason is reason, (line[:40], got)
    assert p.read_call(b'{"op": "listen", "port": 8080}') == p.Listen(port=8080)


def test_a_call_checks_its_arguments_when_made_and_keeps_seconds_as_float() -> None:
    with pytest.raises(p.AppError, match="port = 0 is out of range"):
        p.Listen(port=0)
    with pytest.raises(p.AppError, match="how = 'up'"):
        p.Shutdown(id=1, how="up")
    assert p.Recv(id=1, timeout=2).timeout == 2.0 and isinstance(
        p.Recv(id=1, timeout=2).timeout, float
    )
    assert p.SetSockOpt(id=1, name="SO_LINGER", value=[1, 0]).value == (1, 0)  # type: ignore[arg-type]
    # defaults stay off the wire, so a call a solution makes passes the proxy's allow-list
    assert p.Listen(port=9000, backlog=128).to_wire() == {"op": "listen", "port": 9000}


def test_replies_survive_the_wire_as_the_old_json() -> None:
    listener = p.SocketInfo(
        id=1, kind="listener", local=("0.0.0.0", 7788), peer=None, auto_accept=True,
        accepted=(("10.77.0.1", 40000),),
    )  # fmt: skip
    conn = p.SocketInfo(
        id=2, kind="connection", local=("10.77.0.2", 7788), peer=("10.77.0.1", 40000),
        accepted_from=1,
    )  # fmt: skip
    wire = json.loads(p.encode_reply(p.Sockets(sockets=(listener, conn))))
    assert wire == {
        "ok": True,
        "sockets": [
            {"id": 1, "kind": "listener", "local": ["0.0.0.0", 7788], "peer": None,
             "auto_accept": True, "accepted": [["10.77.0.1", 40000]]},
            {"id": 2, "kind": "connection", "local": ["10.77.0.2", 7788],
             "peer": ["10.77.0.1", 40000], "accepted_from": 1},
        ],
    }  # fmt: skip
    replies: list[tuple[p.Call[Any], p.Reply]] = [
        (p.ListSockets(), p.Sockets(sockets=(listener, conn))),
        (p.Recv(id=2), p.Received(data=b"\x00hi\xff", eof=False, timeout=False)),
        (p.Connect(addr="10.77.0.1", port=40000), p.Connecting(id=3, local=("10.77.0.2", 5))),
        (p.ListAccepted(port=7788), p.Connections(connections=(p.Peer(id=2, peer=None),))),
        (p.Close(id=2), p.Done()),
        (p.Close(id=2), p.Error(error="no socket with id 2")),
    ]
    for call, reply in replies:
        assert p.decode_reply(call, p.encode_reply(reply)) == reply
    assert (
        json.loads(p.encode_reply(p.Received(data=b"hi", eof=False, timeout=False)))["data"]
        == "aGk="
    )


@given(st.binary(max_size=100) | json_values.map(lambda v: json.dumps(v).encode()))
def test_a_garbled_reply_is_a_value_error_for_the_client_to_wrap(line: bytes) -> None:
    for call in (p.ListSockets(), p.Recv(id=1), p.Ping()):
        try:
            got = p.decode_reply(call, line)
        except ValueError:
            continue
        assert isinstance(got, (call.reply, p.Error))


# -- what is derived from it ----------------------------------------------------------------------
def test_the_server_makes_every_call_and_knows_every_socket_option() -> None:
    assert set(HANDLERS) == set(p.CALLS.values())
    assert set(SOCKOPT_NAMES) == set(p.READ_OPTIONS) - {"TCP_INFO"}


def test_solutions_are_offered_the_student_apis_calls_with_its_arguments_only() -> None:
    assert {
        "accepted": {"port"},
        "accept": {"id", "timeout", "peer_port"},
        "list": set(),
        "close": {"id"},
        "shutdown": {"id", "how"},
        "abort": {"id"},
        "send": {"id", "data"},
        "recv": {"id", "timeout"},
        "connect": {"addr", "port"},
        "listen": {"port", "backlog"},
    } == ALLOWED
    assert set(OFFERED) == set(ALLOWED)


def test_scenario_app_steps_take_the_protocols_arguments_by_their_documented_keys() -> None:
    readme = (REPO / "scenarios" / "README.md").read_text()
    assert list(APP_CALLS) == [
        "listen", "accept", "connect", "send", "recv", "shutdown", "close", "abort", "setsockopt",
        "socket", "getsockopt", "ioctl",
    ]  # fmt: skip
    for op, keys in APP_CALLS.items():
        row = next(line for line in readme.splitlines() if line.startswith(f'| `app = "{op}"`'))
        assert all(f"`{k}" in row for k in keys), (op, keys, row)


def test_a_new_call_is_one_class() -> None:
    """A call defined anywhere registers itself: decoding, the scenario keys and the checks follow."""

    @dataclass(frozen=True, kw_only=True)
    class Echo(p.Call[p.Sent]):
        op = "echo_test"
        count: int = p.arg(p.Kind.COUNT, lo=1, hi=3, scenario="count", example="count = 1")

    try:
        assert p.read_call(b'{"op": "echo_test", "count": 2}') == Echo(count=2)
        bad = p.read_call(b'{"op": "echo_test", "count": 4}')
        assert isinstance(bad, p.Error) and "count = 4 is out of range" in bad.error
    finally:
        del p.CALLS["echo_test"]


# -- the server process ---------------------------------------------------------------------------
def _unshare() -> list[str] | None:
    """A command prefix for a fresh, empty network namespace of its own (no interface up: no
    packet can leave it), or None where this machine allows none."""
    if shutil.which("unshare") is None:
        return None
    cmd = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    ok = subprocess.run([*cmd, "true"], capture_output=True, check=False).returncode == 0
    return cmd if ok else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[socket.socket, int]]:
    """The real application process, in a network namespace of its own, and a connection to it."""
    prefix = _unshare()
    if prefix is None:
        pytest.skip("this machine gives no process a network namespace of its own (unshare)")
    control = str(tmp_path_factory.mktemp("app") / "app.sock")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "tcplab.app.server", "--control", control,
         "--listen", "7788", "--ready-fd", str(write_fd)],
        pass_fds=(write_fd,), env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    os.close(write_fd)
    try:
        assert select.select([read_fd], [], [], 10)[0] and os.read(read_fd, 64) == b"ready\n"
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(control)
        sock.settimeout(15)
        with contextlib.closing(sock):
            yield sock, proc.pid
    finally:
        os.close(read_fd)
        proc.terminate()
        proc.wait(timeout=10)


def _exchange(sock: socket.socket, line: bytes) -> dict[str, Any]:
    sock.sendall(line + b"\n")
    with sock.makefile("rb") as f:
        reply: dict[str, Any] = json.loads(f.readline())
    return reply


def _quick(call: dict[str, Any], timeout: Any) -> dict[str, Any]:
    """The server answers one line at a time: accept and recv wait at most a millisecond here."""
    return {**call, "timeout": timeout} if call.get("op") in ("accept", "recv") else call


quick_calls = st.builds(
    _quick,
    call_objects() | valid_calls().map(lambda c: c.to_wire()),
    st.sampled_from([0, 0.001, -1, 11, "x", None]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.binary(max_size=120).map(lambda b: b.replace(b"\n", b" "))
    | (json_values | quick_calls).map(lambda v: json.dumps(v).encode())
)
def test_the_server_answers_every_line_and_keeps_running(
    server: tuple[socket.socket, int], line: bytes
) -> None:
    sock, pid = server
    reply = _exchange(sock, line)
    assert isinstance(reply.get("ok"), bool)
    if not reply["ok"]:
        assert isinstance(reply["error"], str) and p.Reason(reply["reason"])
    assert _exchange(sock, b'{"op": "ping"}') == {"ok": True, "pid": pid}


def test_the_server_logs_each_call_that_changes_a_socket_with_its_time_and_ports(
    server: tuple[socket.socket, int],
) -> None:
    """History: the calls that change a socket, with time.time() (the capture's clock), the
    socket's ports and the outcome; a call that changes nothing (list, ping) is not kept."""
    sock, _ = server
    before = time.time()
    made = _exchange(sock, b'{"op": "listen", "port": 9100, "backlog": 3}')
    _exchange(sock, b'{"op": "list"}')
    _exchange(sock, json.dumps({"op": "shutdown", "id": made["id"], "how": "rd"}).encode())
    _exchange(sock, json.dumps({"op": "close", "id": made["id"]}).encode())
    _exchange(sock, b'{"op": "connect", "addr": "10.77.0.1", "port": 9}')  # no route: fails
    after = time.time()
    log = _exchange(sock, b'{"op": "history"}')
    assert log["ok"] and log["dropped"] == 0
    first = log["events"][0]  # the application's own listener, made at start
    assert (first["op"], first["local_port"], first["auto"]) == ("listen", 7788, True)
    mine = [e for e in log["events"] if before <= e["time"] <= after]
    assert [(e["op"], e["ok"]) for e in mine] == [
        ("listen", True), ("shutdown", False), ("close", True), ("connect", False),
    ]  # fmt: skip
    listen, shut, close, connect = mine
    assert listen["backlog"] == 3 and listen["id"] == made["id"] == close["id"]
    assert listen["local_port"] == close["local_port"] == 9100 and close["peer_port"] is None
    assert shut["how"] == "rd" and "not a connection" in shut["error"]
    assert connect["peer_port"] == 9 and connect["error"]
    assert p.History.reply.from_wire({k: v for k, v in log.items() if k != "ok"}).events


def test_the_log_is_never_offered_to_solutions() -> None:
    assert "history" in p.CALLS and "history" not in OFFERED and "history" not in ALLOWED
    assert not p.History.in_scenarios
