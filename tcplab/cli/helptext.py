"""The command line's own help, in the language chosen.

Commands' and options' help is written in English where each command is declared (docstrings and
`help=`); this module walks the Click command Typer builds and translates every such text through
the catalog, and gives the catalog's extraction the same texts (scripts/catalog.py), so what
`--help` shows and what the catalog holds are one list.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from tcplab.i18n import _

_COMMAND_TEXTS = ("help", "short_help", "epilog")
_PARAM_TEXTS = ("help",)


# Click's classes are typer._click's in Typer 0.22+ and click's before: duck-typed here


def _walk(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _walk(sub)


def _texts(command: Any) -> Iterator[tuple[Any, str, str]]:
    """(object, attribute, English text) for every help text of the command tree."""
    for cmd in _walk(command):
        for attr in _COMMAND_TEXTS:
            text = getattr(cmd, attr, None)
            if text:
                yield cmd, attr, inspect.cleandoc(text)
        for param in cmd.params:
            for attr in _PARAM_TEXTS:
                text = getattr(param, attr, None)
                if text:
                    yield param, attr, text


def root() -> Any:
    import typer.main

    from tcplab.cli import app

    return typer.main.get_command(app)


def help_texts() -> list[str]:
    """Every help text of tcplab's command line, in English, each once."""
    return list(dict.fromkeys(text for _obj, _attr, text in _texts(root())))


def translate(command: Any) -> None:
    """Put every help text of the command tree into the chosen language (in place)."""
    for obj, attr, text in list(_texts(command)):
        setattr(obj, attr, _(text))
