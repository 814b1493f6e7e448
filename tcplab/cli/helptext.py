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

from tcplab.i18n import ENGLISH, N_, _, language
from tcplab.text import columns, wrap

# Click's own texts in help (typer._click has no gettext): translated here
HELP_OPTION = N_("Show this message and exit.")
USAGE_PREFIX = N_("Usage: ")
HEADING = N_("{heading}:")
SHORT_HELP_COLUMNS = 60  # a command's line in its group's list: its name, then this many columns

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
    """Put every help text of the command tree into the chosen language (in place), the help
    option's own included."""
    for obj, attr, text in list(_texts(command)):
        setattr(obj, attr, _(text))
    for cmd in _walk(command):
        cmd.get_help_option = _translated_help_option(cmd.get_help_option)
        if cmd.help and not cmd.short_help:
            cmd.short_help = short_help(cmd.help)


def short_help(text: str, limit: int = SHORT_HELP_COLUMNS) -> str:
    """A translated help's first sentence, cut to `limit` display columns (Click's own cut counts
    characters: a Chinese one takes two columns)."""
    first = " ".join(text.split("\n\n")[0].split())
    for stop in ("。", ". "):
        if stop in first:
            first = first[: first.index(stop) + len(stop)].rstrip()
            break
    if columns(first) <= limit:
        return first
    cut = ""
    for c in first:
        if columns(cut + c) > limit - 3:
            break
        cut += c
    return cut.rstrip() + "..."


def _translated_help_option(make: Any) -> Any:
    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            option.help = _(HELP_OPTION)
        return option

    return get_help_option


def use_formatter(command: Any) -> None:
    """Give every command of the tree a context whose help formatter speaks the chosen language
    and counts wide (CJK) characters as two columns."""
    base_context = command.context_class

    class Formatter(base_context.formatter_class):  # type: ignore[misc,name-defined]
        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, args, _(USAGE_PREFIX) if prefix is None else prefix)

        def write_heading(self, heading: str) -> None:
            line = _(HEADING).format(heading=_(heading))
            self.write(f"{'':>{self.current_indent}}{line}\n")

        def write_text(self, text: str) -> None:
            if language() == ENGLISH:
                super().write_text(text)
                return
            indent = " " * self.current_indent
            for paragraph in text.split("\n\n"):
                self.write("\n".join(wrap(" ".join(paragraph.split()), self.width, indent)))
                self.write("\n")

        def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
            if language() == ENGLISH:
                super().write_dl(rows, col_max, col_spacing)
                return
            _write_dl(self, list(rows), col_max, col_spacing)

    class Context(base_context):  # type: ignore[misc,valid-type]
        formatter_class = Formatter

    for cmd in _walk(command):
        cmd.context_class = Context


def _write_dl(out: Any, rows: list[tuple[str, str]], col_max: int, col_spacing: int) -> None:
    """Click's definition list (options, commands), measured in display columns."""
    first_col = min(max((columns(first) for first, _second in rows), default=0), col_max)
    first_col += col_spacing
    indent = " " * out.current_indent
    for first, second in rows:
        if not second:
            out.write(f"{indent}{first}\n")
            continue
        hang = " " * (out.current_indent + first_col)
        if columns(first) <= first_col - col_spacing:
            head = indent + first + " " * (first_col - columns(first))
        else:
            out.write(f"{indent}{first}\n")
            head = hang
        width = max(out.width, columns(hang) + 10)
        out.write("\n".join(wrap(" ".join(second.split()), width, head, hang)) + "\n")
