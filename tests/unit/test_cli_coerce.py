"""tcplab.cli.coerce gives every parameter of tcplab's command line the value, or the error, that
typer's own coercion (pydantic) gives (no root needed)."""

import math

import pytest
import typer

from tcplab.cli import app, coerce

core = pytest.importorskip("typer.core")
if not hasattr(core, "_TyperParameter"):
    pytest.skip("this typer coerces with click's types", allow_module_level=True)
from typer._coercion import build_runtime_param  # noqa: E402

SAMPLES = [
    "0", "1", "-1", "007", "+5", " 5", "5 ", "1.5", "-1.5", "1e3", "1_000", "nan", "inf", "-0",
    "0.0005", "0.001", "60", "60.0", "60.0001", "86400", "65535", "65536", "4294967295",
    "4294967296", "99999999999999999999", "abc", "", "１２", "1.", ".5", "tlk:7788",
    1, 0, 2.5, 60.0, True, None,
]  # fmt: skip


def _params():
    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        for p in cmd.params:
            if hasattr(p, "type_descriptor") and not p.multiple and p.nargs == 1:
                out.append(pytest.param(cmd, p, id=f"{path}:{p.name}"))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(root, "tcplab")
    return out


def _outcome(runtime, value, param, ctx):
    try:
        got = runtime.coerce(value, param=param, ctx=ctx)
    except typer.BadParameter as exc:
        return ("error", exc.format_message())
    if isinstance(got, float) and math.isnan(got):
        return ("nan",)
    return ("value", type(got), got)


@pytest.mark.parametrize(("cmd", "param"), _params())
def test_every_value_coerces_as_typer_coerces_it(cmd, param):
    ctx = typer.Context(cmd)
    ours = coerce.QuickParam(param)
    for value in SAMPLES:
        theirs = build_runtime_param(param.type_descriptor)
        assert _outcome(ours, value, param, ctx) == _outcome(theirs, value, param, ctx), value


def test_plain_values_need_no_pydantic():
    desc_int = (int, type("Info", (), {"min": 1, "max": 65535, "clamp": False})())
    assert coerce.quick_value(*desc_int, "80") == (True, 80)
    assert coerce.quick_value(*desc_int, "0") == (False, None)  # out of range: typer's message
    assert coerce.quick_value(*desc_int, "08") == (False, None)
    assert coerce.quick_value(float, None, "0.5") == (True, 0.5)
    assert coerce.quick_value(str, None, "tlk:7788") == (True, "tlk:7788")
    assert coerce.quick_value(str, None, 5) == (False, None)
