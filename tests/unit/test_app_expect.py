"""App steps' expected results: read from a scenario (refused at load with file:line and the fix),
and checked against the application's replies (expected and observed shown)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcplab.app.protocol import TCP_INFO_FIELDS, Error, OptionValue, Received, Sent, TcpInfo
from tcplab.engine.appexpect import AppExpect, Context, app_checks, errno_number
from tcplab.engine.scenario import AppStep, load
from tcplab.errors import DefinitionError

HEAD = '[scenario]\ntitle = "t"\n[[step]]\napp = "listen"\n[[step]]\napp = "accept"\n'


def scenario(tmp_path: Path, step: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(HEAD + "[[step]]\n" + step)
    return path


def test_expectations_are_read_into_the_step(tmp_path: Path) -> None:
    sc = load(scenario(tmp_path, 'app = "recv"\nexpect_data = "hi"\nexpect_eof = false\n'))
    step = sc.steps[-1]
    assert isinstance(step, AppStep)
    assert step.expect == AppExpect(data=b"hi", eof=False)


def test_so_error_takes_an_errno_name_and_tcp_info_a_state_name(tmp_path: Path) -> None:
    sc = load(scenario(tmp_path, 'app = "getsockopt"\nname = "SO_ERROR"\nexpect_value = "EPIPE"\n'))
    assert isinstance(sc.steps[-1], AppStep) and sc.steps[-1].expect == AppExpect(value=32)
    text = (
        'app = "getsockopt"\nname = "TCP_INFO"\nexpect_info = { state = "CLOSE-WAIT", rto = 1 }\n'
    )
    step = load(scenario(tmp_path, text)).steps[-1]
    assert isinstance(step, AppStep) and step.expect == AppExpect(info=(("state", 8), ("rto", 1)))


@pytest.mark.parametrize(
    ("step", "line", "message", "hint"),
    [
        ('app = "send"\nexpect_error = "ECONNRESTE"\n', 9, "is not an errno name", "ECONNRESET"),
        ('app = "send"\ndata = "x"\nexpect_data = "x"\n', 10, "app send takes no expect_data",
         "expect_data is for app recv"),
        ('app = "send"\ndata = "x"\nbytes = 5\n', 10, "has both data and bytes", "not both"),
        ('app = "send"\nbytes = 2000000\n', 9, "bytes = 2000000 is out of range", "1048576"),
        ('app = "setsockopt"\nname = "SO_FOO"\nvalue = 1\n', 9, 'name = \'SO_FOO\'',
         "TCP_KEEPIDLE"),
        ('app = "getsockopt"\nname = "SO_ERROR"\nexpect_info = { state = "LISTEN" }\n', 10,
         'expect_info needs name = "TCP_INFO"', "TCP_INFO"),
        ('app = "getsockopt"\nname = "TCP_INFO"\nexpect_info = { rtx = 1 }\n', 10,
         "TCP_INFO has no field 'rtx'", "retransmits"),
        ('app = "recv"\nexpect_timeout = 0.2\n', 9, "is not true or false", "expect_timeout = true"),
        ('app = "getsockopt"\nname = "TCP_MAXSEG"\nexpect_value = "EPIPE"\n', 10,
         "is not a number", "expect_value = 5"),
    ],
)  # fmt: skip
def test_a_bad_expectation_is_refused_at_load_with_file_line_and_fix(
    tmp_path: Path, step: str, line: int, message: str, hint: str
) -> None:
    with pytest.raises(DefinitionError) as exc:
        load(scenario(tmp_path, step))
    assert f"s.toml:{line}: " in str(exc.value) and message in str(exc.value), str(exc.value)
    assert hint in exc.value.hint


RECV = Context(12, "recv")


def test_recv_returning_nothing_fails_an_expected_data() -> None:
    """The old defect: `app recv -> b''` passed whatever the scenario meant."""
    eof = Received(data=b"", eof=True, timeout=False)
    (check,) = app_checks(RECV, AppExpect(data=b"hello"), eof)
    assert not check.ok
    assert (check.name, check.expected, check.observed) == (
        "line 12: app recv returns the data", "b'hello'", "end of stream",
    )  # fmt: skip
    (check,) = app_checks(RECV, AppExpect(length=5), Received(data=b"", eof=False, timeout=True))
    assert not check.ok and check.observed == "0 bytes (nothing (timed out))"


def test_recv_results_that_meet_the_expectation_pass() -> None:
    got = Received(data=b"hello", eof=False, timeout=False)
    checks = app_checks(RECV, AppExpect(data=b"hello", length=5, eof=False, timeout=False), got)
    assert len(checks) == 4 and all(c.ok for c in checks)


def test_an_expected_errno_is_compared_by_number_and_a_success_fails_it() -> None:
    ctx = Context(3, "send")
    failed = Error(error="send on socket 2 failed: Broken pipe", errno="EPIPE")
    assert app_checks(ctx, AppExpect(error="EPIPE"), failed)[0].ok
    (wrong,) = app_checks(ctx, AppExpect(error="ECONNRESET"), failed)
    assert not wrong.ok and wrong.observed.startswith("EPIPE (send on socket 2")
    (success,) = app_checks(ctx, AppExpect(error="EPIPE"), Sent(sent=1))
    assert not success.ok and success.observed == "success (1 bytes sent)"
    assert errno_number("EWOULDBLOCK") == errno_number("EAGAIN")


def test_a_failed_call_without_expectations_is_a_mismatch_and_a_success_checks_nothing() -> None:
    (check,) = app_checks(Context(4, "accept"), None, Error(error="no connection", errno="EAGAIN"))
    assert not check.ok and check.expected == "success" and check.observed == "no connection"
    assert app_checks(RECV, None, Received(data=b"", eof=True, timeout=False)) == []


def test_getsockopt_values_and_tcp_info_fields_are_shown_by_name() -> None:
    ctx = Context(5, "getsockopt", "SO_ERROR")
    (check,) = app_checks(ctx, AppExpect(value=111), OptionValue(value=0))
    assert (check.ok, check.expected, check.observed) == (False, "ECONNREFUSED", "0 (no error)")
    fields = dict.fromkeys(TCP_INFO_FIELDS, 1) | {"state": 8, "retransmits": 2}
    info = TcpInfo(**fields)
    want = AppExpect(info=(("state", 1), ("retransmits", 2)))
    state, rtx = app_checks(
        Context(6, "getsockopt", "TCP_INFO"), want, OptionValue(value=8, info=info)
    )
    assert (state.ok, state.expected, state.observed) == (
        False,
        "ESTABLISHED (1)",
        "CLOSE_WAIT (8)",
    )
    assert rtx.ok and rtx.name == "line 6: app getsockopt TCP_INFO retransmits"


def test_new_replies_cross_the_wire_with_their_errno_and_tcp_info() -> None:
    from tcplab.app.protocol import GetSockOpt, Ioctl, Send, decode_reply, encode_reply

    failed = Error(error="send on socket 2 failed: Broken pipe", errno="EPIPE")
    assert decode_reply(Send(id=2, size=5), encode_reply(failed)) == failed
    info = TcpInfo(**dict.fromkeys(TCP_INFO_FIELDS, 7))
    value = OptionValue(value=1, info=info)
    assert decode_reply(GetSockOpt(id=1, name="TCP_INFO"), encode_reply(value)) == value
    inq = OptionValue(value=1000)
    assert decode_reply(Ioctl(id=1, name="SIOCINQ"), encode_reply(inq)) == inq
