"""Keep tcplab's translation catalogs in step with its messages (Babel's extract, update, compile).

    python scripts/catalog.py extract   # tcplab/locale/tcplab.pot from the sources
    python scripts/catalog.py update    # extract, then merge the .pot into every LANG/.../tcplab.po
    python scripts/catalog.py compile   # every tcplab.po -> tcplab.mo (shipped in the wheel)
    python scripts/catalog.py check     # what tests/unit/test_i18n_catalog.py checks, as a report

The messages are: every `_()`, `N_()` and `ngettext()` in tcplab/ and labs/, each lab's title and
summary (labs/NAME/lab.toml), the command line's help (each command's and option's help, walked from
the Typer app in English), the text `tcplab run` shows of the scenarios (scenarios/**/*.toml), and
Click's and Typer's own messages (extracted from the installed click and typer). See
docs/translating.md.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "tcplab" / "locale"
POT = LOCALE / "tcplab.pot"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
CLICK_KEYWORDS = {"_": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{[^{}]*\}|%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifrx%]")


def _sources() -> Iterator[tuple[str, int, str | tuple[str, ...], str]]:
    """(file, line, message, where) for every marked message of tcplab and its labs."""
    for part in ("tcplab", "labs"):
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / part, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
        ):
            yield f"{part}/{filename}", lineno, message, "tcplab"


SCENARIO_TEXT = ("title", "description", "linux")  # a scenario's [scenario] text people read
STEP_TEXT = ("why", "linux")  # a step's


def _scenarios() -> Iterator[tuple[str, int, str | tuple[str, ...], str]]:
    """The text `tcplab run` shows of each scenario (scenarios/**/*.toml): its title, description
    and Linux note, and each step's why and Linux note; located by the file (and the line of the
    key where it is found), translated where shown with `_()`."""
    import tomllib

    for path in sorted((ROOT / "scenarios").rglob("*.toml")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        data = tomllib.loads(text)
        head = data.get("scenario", {})
        found = [head.get(key) for key in SCENARIO_TEXT]
        found += [step.get(key) for step in data.get("step", []) for key in STEP_TEXT]
        where = str(path.relative_to(ROOT))
        for value in found:
            if isinstance(value, str) and value:
                yield where, _line_of(lines, value), value, "scenarios"


def _line_of(lines: list[str], value: str) -> int:
    """The line a text starts on (1-based; 0 where it is not found as written)."""
    start = value.splitlines()[0][:40] if value.strip() else value
    return next((i for i, line in enumerate(lines, 1) if start in line), 0)


LAB_TEXTS = ("title", "summary")  # the [lab] fields tcplab shows people (lab list, lab check)


def _labs() -> Iterator[tuple[str, int, str | tuple[str, ...], str]]:
    """The texts each labs/NAME/lab.toml shows: its title and summary (translated where shown)."""
    import tomllib

    for path in sorted((ROOT / "labs").glob("*/lab.toml")):
        with path.open("rb") as f:
            lab = tomllib.load(f).get("lab", {})
        for field in LAB_TEXTS:
            text = lab.get(field)
            if isinstance(text, str) and text.strip():
                yield f"labs/{path.parent.name}/lab.toml", 0, " ".join(text.split()), "lab"


def _click() -> Iterator[tuple[str, int, str | tuple[str, ...], str]]:
    """Typer's messages and its Click's (typer._click in Typer 0.22+, else click itself)."""
    import importlib.util

    import typer

    packages = [typer]
    if importlib.util.find_spec("typer._click") is None:
        import click

        packages.append(click)
    for package in packages:
        folder = Path(package.__file__).parent
        for filename, lineno, message, _comments, _context in extract_from_dir(
            folder, keywords=CLICK_KEYWORDS
        ):
            yield f"{package.__name__}/{filename}", lineno, message, package.__name__


def _help() -> Iterator[tuple[str, int, str | tuple[str, ...], str]]:
    sys.path.insert(0, str(ROOT))
    from tcplab.cli.helptext import help_texts

    for text in help_texts():
        yield "tcplab/cli (help)", 0, text, "help"


def extract() -> Catalog:
    catalog = Catalog(project="tcplab", domain="tcplab", charset="utf-8", fuzzy=False)
    for source in (_sources(), _labs(), _help(), _scenarios(), _click()):
        for filename, lineno, message, _where in source:
            if not message or (isinstance(message, tuple) and not message[0]):
                continue
            msgid = message if isinstance(message, str) else message[:2]
            catalog.add(msgid, locations=[(filename, lineno)])
    return catalog


def _write(catalog: Catalog, path: Path) -> None:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
    # the date the catalog was written changes every run: leave it out, so an unchanged
    # catalog is an unchanged file
    text = buf.getvalue().decode()
    text = re.sub(r'"(POT-Creation-Date|PO-Revision-Date): [^"]*\\n"\n', "", text)
    path.write_text(text, encoding="utf-8")


def languages() -> list[Path]:
    return sorted(LOCALE.glob("*/LC_MESSAGES/tcplab.po"))


def cmd_extract() -> Catalog:
    catalog = extract()
    _write(catalog, POT)
    print(f"{POT.relative_to(ROOT)}: {len(catalog)} messages")
    return catalog


def cmd_update() -> None:
    template = cmd_extract()
    for po in languages():
        with po.open("rb") as f:
            catalog = read_po(f)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        _write(catalog, po)
        missing = sum(1 for m in catalog if m.id and not _translated(m))
        print(f"{po.relative_to(ROOT)}: {len(catalog)} messages, {missing} to translate")


def cmd_compile() -> None:
    for po in languages():
        with po.open("rb") as f:
            catalog = read_po(f)
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        print(f"{po.with_suffix('.mo').relative_to(ROOT)}")


def _translated(message: Message) -> bool:
    string = message.string
    if message.fuzzy:
        return False
    if isinstance(string, (tuple, list)):
        return all(string)
    return bool(string)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def problems(po: Path, template: Catalog | None = None) -> list[str]:
    """What is wrong with one language's catalog against the sources: untranslated or fuzzy
    messages, and translations whose placeholders differ from the original."""
    template = template or extract()
    with po.open("rb") as f:
        catalog = read_po(f)
    found = []
    for message in template:
        if not message.id:
            continue
        mine = catalog.get(message.id)
        key = message.id if isinstance(message.id, str) else message.id[0]
        if mine is None or not _translated(mine):
            found.append(f"untranslated: {key!r}")
            continue
        originals = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [mine.string] if isinstance(mine.string, str) else list(mine.string)
        want = placeholders(originals[-1])
        for string in strings:
            if placeholders(string) != want:
                found.append(f"placeholders differ: {key!r} -> {string!r}")
    return found


def cmd_check() -> int:
    template = extract()
    bad = 0
    for po in languages():
        found = problems(po, template)
        bad += len(found)
        for line in found[:50]:
            print(f"{po.relative_to(ROOT)}: {line}")
        print(f"{po.relative_to(ROOT)}: {len(found)} problems in {len(template)} messages")
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    commands = {"extract": cmd_extract, "update": cmd_update, "compile": cmd_compile}
    if len(argv) != 1 or argv[0] not in (*commands, "check"):
        print("usage: python scripts/catalog.py extract|update|compile|check", file=sys.stderr)
        return 2
    if argv[0] == "check":
        return cmd_check()
    commands[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
