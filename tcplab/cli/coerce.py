"""Plain option values read without pydantic, with typer's own answer for everything else.

Since typer 0.25 every parameter's value goes through a pydantic TypeAdapter, built at its first
use: importing pydantic and building one adapter per parameter cost a `tcplab handshake` about
0.15 s, more than the handshake. tcplab's parameters are str, int, float, bool and lists of str.
A value that is already of its parameter's type, or a plain decimal numeral within the option's
min and max, becomes exactly what pydantic would make of it (str(), int(), float(): the same
value); anything else (a list, a sign, a space, a leading zero, an exponent, nan, a number out of
range, a word) goes to typer's own coercion, built then, so that every message about a bad value
is typer's, word for word (tests/unit/test_cli_coerce.py compares the two on every parameter).

A typer without this machinery (before 0.25: click's own types, no pydantic) is left as it is.
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")


def quick_value(annotation: Any, info: Any, value: Any) -> tuple[bool, Any]:
    """(True, what pydantic's adapter gives) for a plain value; (False, None) for any other."""
    if type(value) is annotation and annotation in (str, int, float):
        out = value
    elif type(value) is not str:
        return False, None
    elif annotation is int and _INT.fullmatch(value):
        out = int(value)
    elif annotation is float and _FLOAT.fullmatch(value):
        out = float(value)
    else:
        return False, None
    if annotation is not str:
        if getattr(info, "clamp", False):
            return False, None
        lo, hi = getattr(info, "min", None), getattr(info, "max", None)
        if (lo is not None and out < lo) or (hi is not None and out > hi):
            return False, None
    return True, out


class QuickParam:
    """Stands in for a parameter's typer RuntimeParam: plain values here, the rest to typer's."""

    def __init__(self, param: Any) -> None:
        self._param = param
        self._typer: Any = None

    def typer_param(self) -> Any:
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(self._param.type_descriptor)
        return self._typer

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:  # as typer's RuntimeParam.coerce, for a single value
            return None
        desc = self._param.type_descriptor
        done, out = quick_value(desc.annotation, desc.parameter_info, value)
        if done:
            return out
        return self.typer_param().coerce(value, param=param, ctx=ctx)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.typer_param(), name)


def install() -> None:
    """Put a QuickParam before typer's coercion on every single-valued parameter, as typer asks
    for the parameter's coercion (also the help option, which typer makes while parsing)."""
    import typer.core

    cls = getattr(typer.core, "_TyperParameter", None)
    typer_get = getattr(cls, "get_runtime_param", None)
    if cls is None or typer_get is None or getattr(typer_get, "quick", False):
        return

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None and not self.multiple and self.nargs == 1:
            self._runtime_param = QuickParam(self)
        return typer_get(self)

    get_runtime_param.quick = True  # type: ignore[attr-defined]
    cls.get_runtime_param = get_runtime_param
