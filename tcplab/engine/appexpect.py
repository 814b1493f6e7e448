"""What an app step expects of its call's result, read from the scenario and checked against the reply.

An `app = "..."` step may state its outcome with `expect_*` keys (scenarios/README.md, "Application
steps"): the data recv returns (exact bytes or a length), the end of the stream, a recv that timed
out, the errno a call failed with (by name), the bytes send wrote, the integer getsockopt or ioctl
returned, and fields of TCP_INFO. Without any, a call that fails is a mismatch and a call that
succeeds passes, whatever it returned. Pure: no sockets, tested without root.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tcplab.app.protocol import (
    TCP_INFO_FIELDS,
    Error,
    OptionValue,
    Received,
    Reply,
    Sent,
    shown,
)
from tcplab.engine.check import Check, fact
from tcplab.engine.words import Said, phrase, said
from tcplab.i18n import N_, _
from tcplab.model.state import LINUX_STATE_NUMBERS, State
from tcplab.model.text import error_text

# key -> the calls that may have it (None: every call)
EXPECT_KEYS: dict[str, tuple[str, ...] | None] = {
    "expect_data": ("recv",),
    "expect_len": ("recv",),
    "expect_eof": ("recv",),
    "expect_timeout": ("recv",),
    "expect_sent": ("send",),
    "expect_value": ("getsockopt", "ioctl"),
    "expect_info": ("getsockopt",),
    "expect_error": None,
}
ERRNO_HINT = N_("use an errno name such as ECONNRESET, ECONNREFUSED, EPIPE, EAGAIN or ENOTCONN")
_STATE_FIELD = "state"
_FIELDS = {"expect_len": "length"}  # a key whose AppExpect field is named otherwise

Fail = Callable[[str, str, str], Exception]  # (key, message, hint) -> the loader's error


def errno_number(name: str) -> int | None:
    """The errno a name means (EWOULDBLOCK too), None if it is not one."""
    value = getattr(errno, name, None) if name.isupper() and name.startswith("E") else None
    return value if isinstance(value, int) and value in errno.errorcode else None


@dataclass(frozen=True)
class AppExpect:
    """The outcome an app step states; None: not stated."""

    data: bytes | None = None
    length: int | None = None
    eof: bool | None = None
    timeout: bool | None = None
    error: str | None = None  # an errno name
    sent: int | None = None
    value: int | None = None
    info: tuple[tuple[str, int], ...] = ()  # TCP_INFO field -> value (state as its number)


def parse_expect(raw: dict[str, Any], op: str, option: str, fail: Fail) -> AppExpect | None:
    """The step's expect_* keys, checked: each one allowed for this call and well typed.
    `option` is the step's `name` (getsockopt's option), "" if none."""
    given = {k: v for k, v in raw.items() if k in EXPECT_KEYS}
    if not given:
        return None
    for key in given:
        calls = EXPECT_KEYS[key]
        if calls is not None and op not in calls:
            raise fail(
                key,
                _("app {op} takes no {key}").format(op=op, key=key),
                _("{key} is for app {calls}").format(key=key, calls=" and ".join(calls)),
            )
    out: dict[str, Any] = {}
    for key, value in given.items():
        out[_FIELDS.get(key, key.removeprefix("expect_"))] = _value(key, value, option, fail)
    if "info" in out and option != "TCP_INFO":
        raise fail(
            "expect_info", _('expect_info needs name = "TCP_INFO"'), _('add name = "TCP_INFO"')
        )
    return AppExpect(**out)


def _value(key: str, value: Any, option: str, fail: Fail) -> Any:
    if key == "expect_data":
        if not isinstance(value, str):
            raise fail(
                key,
                _("{key} = {value} is not text").format(key=key, value=shown(value)),
                _('write e.g. expect_data = "hello"'),
            )
        return value.encode()
    if key in ("expect_eof", "expect_timeout"):
        if not isinstance(value, bool):
            raise fail(
                key,
                _("{key} = {value} is not true or false").format(key=key, value=shown(value)),
                _("write {key} = true").format(key=key),
            )
        return value
    if key == "expect_error":
        return _errno_name(key, value, fail)
    if key == "expect_info":
        return _info(value, fail)
    if key == "expect_value" and isinstance(value, str) and option == "SO_ERROR":
        number = errno_number(_errno_name(key, value, fail))
        return number
    return _count(key, value, fail)


def _count(key: str, value: Any, fail: Fail, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value < 1 << 32:
        raise fail(
            key,
            _("{key} = {value} is not a number from {lo}").format(
                key=key, value=shown(value), lo=lo
            ),
            _("write e.g. {key} = 5").format(key=key),
        )
    return value


def _errno_name(key: str, value: Any, fail: Fail) -> str:
    if isinstance(value, str) and errno_number(value) is not None:
        return value
    close = difflib.get_close_matches(str(value).upper(), errno.errorcode.values(), 1)
    hint = _("did you mean {name}? ").format(name=close[0]) if close else ""
    raise fail(
        key,
        _("{key} = {value} is not an errno name").format(key=key, value=shown(value)),
        hint + _(ERRNO_HINT),
    )


def _info(value: Any, fail: Fail) -> tuple[tuple[str, int], ...]:
    key = "expect_info"
    example = _('write e.g. expect_info = {{ state = "ESTABLISHED", retransmits = 0 }}').format()
    if not isinstance(value, dict) or not value:
        raise fail(
            key,
            _("{key} = {value} is not a table of TCP_INFO fields").format(
                key=key, value=shown(value)
            ),
            example,
        )
    out = []
    for name, want in value.items():
        if name not in TCP_INFO_FIELDS:
            raise fail(
                key,
                _("TCP_INFO has no field {name}").format(name=shown(name)),
                _("use {choices}").format(choices=", ".join(TCP_INFO_FIELDS)),
            )
        if name == _STATE_FIELD and isinstance(want, str):
            out.append((name, _state_number(want, fail)))
        else:
            out.append((name, _count(f"{key}.{name}", want, fail)))
    return tuple(out)


def _state_number(text: str, fail: Fail) -> int:
    try:
        state = State.parse(text)
    except ValueError as exc:
        raise fail("expect_info", error_text(exc, _), _("use an RFC 9293 state name")) from None
    return next(n for n, s in LINUX_STATE_NUMBERS.items() if s is state)


# -- checking --------------------------------------------------------------------------------------
_Outcome = tuple[Said, bool, object, object]  # (what, ok, expected, observed)


def _bytes(n: int) -> str:
    return _("{n} bytes").format(n=n)


@dataclass(frozen=True)
class Context:
    """Who the checks are for: the step's line, call, option and words."""

    line: int
    op: str
    option: str = ""
    why: str = ""
    source: str = ""
    linux: str = ""


def app_checks(ctx: Context, expect: AppExpect | None, reply: Reply) -> list[Check]:
    """The checks of a call's outcome (its reply, or its Error) against what the step expects."""
    if isinstance(reply, Error) or (expect is not None and expect.error is not None):
        return [_error_check(ctx, expect, reply)]
    if expect is None:
        return []
    out: list[_Outcome] = []  # (what, ok, expected, observed)
    if isinstance(reply, Received):
        out += _recv(expect, reply)
    if isinstance(reply, Sent) and expect.sent is not None:
        out.append(
            (
                phrase(N_("writes")),
                reply.sent == expect.sent,
                _bytes(expect.sent),
                _bytes(reply.sent),
            )
        )
    if isinstance(reply, OptionValue):
        out += _option(ctx, expect, reply)
    why = ctx.why or _("the scenario expects this result of app {op}").format(op=ctx.op)
    return [
        fact(
            name=said(N_("line {line}: app {op} {what}"), line=ctx.line, op=ctx.op, what=what),
            ok=ok,
            expected=exp,
            observed=obs,
            why=why,
            source=ctx.source,
            linux_note=ctx.linux,
        )
        for what, ok, exp, obs in out
    ]


def _error_check(ctx: Context, expect: AppExpect | None, reply: Reply) -> Check:
    want = expect.error if expect is not None else None
    if isinstance(reply, Error):
        got = reply.errno or _("no errno")
        ok = want is not None and errno_number(want) == errno_number(reply.errno)
        observed = f"{got} ({reply.error})"
    else:
        ok, observed = False, _("success ({reply})").format(reply=received_text(reply))
    if want:
        name = said(
            N_("line {line}: app {op} fails with {errno}"), line=ctx.line, op=ctx.op, errno=want
        )
    else:
        name = said(N_("line {line}: app {op} succeeds"), line=ctx.line, op=ctx.op)
    why = ctx.why or (
        _("the scenario expects app {op} to fail with {errno}").format(op=ctx.op, errno=want)
        if want
        else _("the application's call failed")
    )
    return fact(
        name=name,
        ok=ok,
        expected=want or phrase(N_("success")),
        observed=observed if want else str(getattr(reply, "error", observed)),
        why=why,
        source=ctx.source,
        linux_note=ctx.linux,
    )


def received_text(reply: Reply) -> str:
    """A reply in a few words: what recv returned, the bytes sent, the value read."""
    if isinstance(reply, Received):
        if reply.timeout:
            return _("nothing (timed out)")
        return _("end of stream") if reply.eof else shown(reply.data, 60)
    if isinstance(reply, Sent):
        return _("{n} bytes sent").format(n=reply.sent)
    if isinstance(reply, OptionValue):
        return _("value {value}").format(value=reply.value)
    return type(reply).__name__.lower()


def _recv(expect: AppExpect, reply: Received) -> list[_Outcome]:
    got = received_text(reply)
    out: list[_Outcome] = []
    if expect.data is not None:
        out.append(
            (
                phrase(N_("returns the data")),
                reply.data == expect.data and not reply.timeout,
                repr(expect.data),
                got,
            )
        )
    if expect.length is not None:
        n = len(reply.data)
        out.append(
            (
                phrase(N_("returns the length")),
                n == expect.length,
                _bytes(expect.length),
                f"{_bytes(n)} ({got})",
            )
        )
    if expect.eof is not None:
        out.append(
            (
                phrase(N_("reads the end of stream"))
                if expect.eof
                else phrase(N_("does not read the end of stream")),
                reply.eof == expect.eof,
                _("end of stream") if expect.eof else _("no end of stream"),
                got,
            )
        )
    if expect.timeout is not None:
        want = _("nothing (timed out)") if expect.timeout else _("something to read")
        out.append(
            (
                phrase(N_("times out")) if expect.timeout else phrase(N_("does not time out")),
                reply.timeout == expect.timeout,
                want,
                got,
            )
        )
    return out  # fmt: skip


def _option(ctx: Context, expect: AppExpect, reply: OptionValue) -> list[_Outcome]:
    out: list[_Outcome] = []
    what = said(N_("{option} value"), option=ctx.option)
    if expect.value is not None:
        want, got = _shown(ctx.option, expect.value), _shown(ctx.option, reply.value)
        out.append((what, reply.value == expect.value, want, got))
    for name, want_n in expect.info:
        got_n = getattr(reply.info, name, None) if reply.info is not None else None
        show = _state_text if name == _STATE_FIELD else str
        info = f"TCP_INFO {name}"
        out.append((Said(info, info), got_n == want_n, show(want_n), show(got_n)))
    return out


def _shown(option: str, value: int) -> str:
    if option == "SO_ERROR":
        return errno.errorcode.get(value, str(value)) if value else _("0 (no error)")
    return str(value)


def _state_text(number: object) -> str:
    state = LINUX_STATE_NUMBERS.get(number) if isinstance(number, int) else None
    return f"{state} ({number})" if state is not None else str(number)
