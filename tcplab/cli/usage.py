"""Click's usage errors as tcplab's own message and hint, in the language chosen.

Typer 0.22+ carries a copy of Click without gettext: its messages ("No such option: --x",
"Missing argument 'NAME'.") are English whatever the language. This module rebuilds each message
from the exception's class and attributes (the option's name, the parameter, the possibilities,
the validation error under it) through the catalog; the English text is Click's own, word for
word. A message it does not know is Click's, as Click wrote it.
"""

from __future__ import annotations

import re
from typing import Any

from tcplab.i18n import _

_REQUIRES = re.compile(r"Option '(?P<option>.+)' requires an argument\.")
_REQUIRES_N = re.compile(r"Option '(?P<option>.+)' requires (?P<n>\d+) arguments\.")
_NO_VALUE = re.compile(r"Option '(?P<option>.+)' does not take a value\.")
_EXTRA = re.compile(r"Got unexpected extra argument\(s\) \((?P<args>.*)\)")
_SUGGEST = re.compile(r"(?P<message>.*)\. Did you mean (?P<suggestions>.+)\?", re.S)


def message(exc: Any) -> str:
    """The first line of a click UsageError, translated where tcplab knows it."""
    kind = type(exc).__name__
    if kind == "NoSuchOption":
        return _no_such_option(exc)
    if kind == "MissingParameter":
        return _missing(exc)
    if kind == "BadParameter":
        return _bad_parameter(exc)
    return _plain(str(getattr(exc, "message", "")) or exc.format_message())


def _no_such_option(exc: Any) -> str:
    option = exc.option_name
    if exc.message != "No such option: " + _escape(option):
        return str(exc.format_message())
    if exc.possibilities:
        return _("No such option: {option} (Possible options: {possibilities})").format(
            option=_escape(option), possibilities=", ".join(sorted(exc.possibilities))
        )
    return _("No such option: {option}").format(option=_escape(option))


def _escape(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _param_hint(exc: Any) -> str | None:
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint()
    if hint is None:
        return None
    if isinstance(hint, str):
        return hint
    return " / ".join(repr(x) for x in hint)


def _missing(exc: Any) -> str:
    extra = exc.message
    if exc.param is not None and exc.param.get_missing_message(ctx=exc.ctx):
        return str(exc.format_message())
    hint = _param_hint(exc)
    kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else None)
    if extra or hint is None or kind not in ("argument", "option", "parameter"):
        return str(exc.format_message())
    texts = {
        "argument": _("Missing argument {name}."),
        "option": _("Missing option {name}."),
        "parameter": _("Missing parameter {name}."),
    }
    return texts[kind].format(name=hint)


def _bad_parameter(exc: Any) -> str:
    reason = _validation(exc) or _plain(exc.message)
    hint = _param_hint(exc)
    if hint is None:
        return _("Invalid value: {reason}").format(reason=reason)
    return _("Invalid value for {name}: {reason}").format(name=hint, reason=reason)


def _plain(text: str) -> str:
    """A message Click or Typer wrote in English, translated where its shape is known."""
    for pattern, template in (
        (_REQUIRES, _("Option {option!r} requires an argument.")),
        (_REQUIRES_N, _("Option {option!r} requires {n} arguments.")),
        (_NO_VALUE, _("Option {option!r} does not take a value.")),
        (_EXTRA, _("Got unexpected extra argument(s) ({args})")),
    ):
        m = pattern.fullmatch(text)
        if m:
            return template.format(**m.groupdict())
    m = _SUGGEST.fullmatch(text)
    if m:
        message = m["message"].rstrip(".。")
        return _("{message}. Did you mean {suggestions}?").format(
            message=message, suggestions=m["suggestions"]
        )
    return text


def _validation(exc: Any) -> str | None:
    """Typer's value checks are pydantic's: their error type and limits, translated."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if errors is None:
        return None
    try:
        first = errors()[0]
    except (IndexError, TypeError, AttributeError):
        return None
    limits = first.get("ctx") or {}
    texts = {
        "int_parsing": _("Input should be a valid integer, unable to parse string as an integer"),
        "int_from_float": _("Input should be a valid integer, got a number with a fractional part"),
        "float_parsing": _("Input should be a valid number, unable to parse string as a number"),
        "bool_parsing": _("Input should be a valid boolean, unable to interpret input"),
        "finite_number": _("Input should be a finite number"),
        "greater_than_equal": _("Input should be greater than or equal to {ge}"),
        "greater_than": _("Input should be greater than {gt}"),
        "less_than_equal": _("Input should be less than or equal to {le}"),
        "less_than": _("Input should be less than {lt}"),
    }
    text = texts.get(first.get("type", ""))
    if text is None:
        return None
    try:
        return text.format(**limits)
    except (KeyError, IndexError):
        return None
