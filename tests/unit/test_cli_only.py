"""main() builds only the command it runs whole (tcplab.cli.only): what every command line shows,
help and errors, in English and in Chinese, is what it showed with every command built."""

import json
import subprocess
import sys

import pytest

from tcplab.cli import _name, app, only

CASES = [
    [], ["--help"], ["-h"], ["--version"], ["nosuch"], ["handshak"], ["--bogus"],
    ["handshake", "--help"], ["handshake", "--sport", "0"], ["handshake", "--sport", "x"],
    ["handshake", "--timeout", "nan"], ["handshake", "--bogus"], ["send", "--help"],
    ["send", "--flags"], ["lab"], ["lab", "--help"], ["lab", "check", "--help"], ["lab", "chek"],
    ["lab", "list", "--help"], ["grade", "--help"], ["grade"], ["run", "--help"], ["run"],
    ["status", "--help"], ["states", "--help"], ["watch", "--help"], ["--ascii", "--help"],
    ["setup", "--port", "70000"], ["sockets", "--help"], ["teardown", "--help"], ["shell", "-h"],
]  # fmt: skip

SCRIPT = r"""
import contextlib, io, json, os, sys
import tcplab.cli as cli
if sys.argv[1] == "full":
    cli.only = lambda typer_app, args: typer_app
out = []
for lang, args in json.loads(sys.argv[2]):
    os.environ["TCPLAB_LANG"] = lang
    o, e = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try:
            cli.main(args)
        except SystemExit as exc:
            code = exc.code
    out.append([code, o.getvalue(), e.getvalue()])
print(json.dumps(out))
"""


def _shown(variant: str) -> list[list[object]]:
    cases = [[lang, args] for lang in ("en", "zh_CN") for args in CASES]
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, variant, json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "TCPLAB_LANG": "en"},
    )
    return list(zip(cases, json.loads(run.stdout), strict=True))


def test_every_command_line_shows_what_it_showed_with_every_command_built() -> None:
    for (case, ours), (_case, theirs) in zip(_shown("only"), _shown("full"), strict=True):
        assert ours == theirs, case


@pytest.mark.parametrize(
    ("args", "whole"),
    [
        (["handshake", "--target", "k:1"], {"handshake"}),
        (["lab", "check", "x"], {"lab check"}),
        (["--help"], set()),
        (["lab"], set()),
    ],
)
def test_only_the_command_that_runs_is_built_whole(args: list[str], whole: set[str]) -> None:
    pruned = only(app, args)
    built = {_name(i) for i in pruned.registered_commands if i.callback.__name__ != "idle"}
    for group in pruned.registered_groups:
        inner = group.typer_instance.registered_commands
        built |= {f"{group.name} {_name(i)}" for i in inner if i.callback.__name__ != "idle"}
    assert built == whole
    assert [_name(i) for i in pruned.registered_commands] == [
        _name(i) for i in app.registered_commands
    ]
