"""The one place user-facing text goes through: gettext, with tcplab's catalogs.

Every string a person reads is marked: `_("...")` where it is shown (translated then), `N_("...")`
where it is only *named* (a constant, a table's text: translated later by `_(NAME)`), `ngettext` for
counts. Placeholders are named `{like_this}` and filled with `.format(...)` *after* translation, so a
translation may move them. Machine-readable text (ids, verdict names, JSON keys, flags, tcpdump
notation, RFC section names) is never marked.

The language is chosen once per process, before anything is shown: `--lang`, then TCPLAB_LANG, then
the locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, as gettext reads them). Any Chinese locale chooses
zh_CN, the one catalog besides English; a locale tcplab has no catalog for (or C/POSIX) is English.
English is the source text itself: with no catalog loaded, `_` returns its argument unchanged.

Catalogs: tcplab/locale/tcplab.pot (extracted), tcplab/locale/LANG/LC_MESSAGES/tcplab.po (kept by
translators) and tcplab.mo (compiled, shipped in the wheel). `python scripts/catalog.py` extracts,
updates and compiles them with Babel (docs/translating.md).

Click's and Typer's own messages ("Missing argument", "Options", ...) are translated through the same
catalog: `install_click` points their gettext calls at it.

Pure apart from reading the environment and the package's catalog files; every layer may use it.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "tcplab"
LOCALEDIR = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"
LANGUAGES = (ENGLISH, "zh_CN")  # English is the source text; the others have a catalog
LANG_ENV = "TCPLAB_LANG"
_LOCALE_ENV = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # gettext's own order

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = ENGLISH


class UnknownLanguage(ValueError):
    """A language asked for by name (--lang, TCPLAB_LANG) that tcplab has no catalog for."""

    def __init__(self, asked: str) -> None:
        super().__init__(asked)
        self.asked = asked


def normalize(name: str) -> str | None:
    """A language or locale name as one of LANGUAGES, or None when tcplab has no catalog for it.

    "zh_CN.UTF-8", "zh-CN", "zh", "zh_Hans", "zh_SG.GB18030" -> "zh_CN"; "en_US.UTF-8", "C",
    "POSIX", "C.UTF-8" -> "en"."""
    base = name.strip().split(".")[0].split("@")[0].replace("-", "_")
    if not base:
        return None
    lower = base.lower()
    if lower in ("c", "posix") or lower == "en" or lower.startswith("en_"):
        return ENGLISH
    if lower == "zh" or lower.startswith("zh_"):
        return "zh_CN"
    return None


def choose(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The language to speak: --lang (flag), then TCPLAB_LANG, then the locale. A name given on
    purpose (flag, TCPLAB_LANG) that tcplab does not speak raises UnknownLanguage; a locale it does
    not speak is English (a German desktop is not an error)."""
    env = os.environ if environ is None else environ
    for asked in (flag, env.get(LANG_ENV)):
        if asked:
            lang = normalize(asked)
            if lang is None:
                raise UnknownLanguage(asked)
            return lang
    locale = next((env[v] for v in _LOCALE_ENV[1:] if env.get(v)), "")
    plain_c = locale.split(".")[0] in ("", "C", "POSIX")
    for var in _LOCALE_ENV:
        value = env.get(var, "")
        if not value or (var == "LANGUAGE" and plain_c):
            continue  # like gettext, LANGUAGE counts only when a locale other than C is set
        names = value.split(":") if var == "LANGUAGE" else [value]  # LANGUAGE: zh_CN:en
        for name in names:
            lang = normalize(name)
            if lang is not None:
                return lang
        if var != "LANGUAGE":
            return ENGLISH  # the locale names a language tcplab does not speak
    return ENGLISH


_loaded: dict[str, gettext.NullTranslations] = {}  # each catalog read once per process


def _catalog(lang: str) -> gettext.NullTranslations:
    if lang == ENGLISH:
        return gettext.NullTranslations()
    if lang not in _loaded:
        _loaded[lang] = gettext.translation(DOMAIN, str(LOCALEDIR), languages=[lang])
    return _loaded[lang]


def preload() -> None:
    """Read every catalog now (the grader's zygote does, before a solution is jailed where the
    package's files may not be visible): a later set_language needs no file."""
    for lang in LANGUAGES:
        _catalog(lang)


def set_language(lang: str) -> None:
    """Speak `lang` (one of LANGUAGES) from now on in this process."""
    global _translation, _language
    if lang not in LANGUAGES:
        raise UnknownLanguage(lang)
    _translation = _catalog(lang)
    _language = lang
    _refresh_click()


def speak_from_environment() -> None:
    """In a process tcplab started (a solution, the kernel-side application): speak what the
    command that started it spoke (it leaves TCPLAB_LANG in the environment), else the locale; a
    name tcplab does not know, or a catalog that cannot be read here, is English: never an error
    in a student's program."""
    try:
        set_language(choose())
    except (UnknownLanguage, OSError):
        set_language(ENGLISH)


def language() -> str:
    """The language spoken now: one of LANGUAGES."""
    return _language


def _(message: str) -> str:
    """`message` in the language chosen (English: unchanged). "" stays "" (gettext would give the
    catalog's header for it)."""
    return _translation.gettext(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for `n` of a message with a count ({n} in it, filled by the caller)."""
    return _translation.ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for the marker)
    """Mark `message` for the catalog without translating it now: a constant translated where it
    is shown, with `_(CONSTANT)`."""
    return message


# Click and Typer bind gettext's functions into their modules (`from gettext import gettext as _`);
# rebinding those names makes their messages come from tcplab's catalog. Typer also keeps a few
# translated constants (panel titles) computed at import: they are recomputed.
_CLICK_PARTS = (
    "core",
    "decorators",
    "exceptions",
    "formatting",
    "parser",
    "shell_completion",
    "termui",
    "types",
    "utils",
)
# Typer 0.22+ carries its own copy of Click (typer._click); older releases use click itself
_CLICK_MODULES = (
    *(f"typer._click.{part}" for part in _CLICK_PARTS),
    *(f"click.{part}" for part in _CLICK_PARTS),
    "typer.core",
    "typer.rich_utils",
)
_TYPER_CONSTANTS = {
    "DEPRECATED_STRING": "(deprecated) ",
    "DEFAULT_STRING": "[default: {}]",
    "ENVVAR_STRING": "[env var: {}]",
    "REQUIRED_LONG_STRING": "[required]",
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ERRORS_PANEL_TITLE": "Error",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
}
_click_installed = False


def install_click() -> None:
    """Make Click's and Typer's own messages speak the chosen language (now and after any later
    set_language). Call after importing typer."""
    global _click_installed
    _click_installed = True
    _refresh_click()


def _refresh_click() -> None:
    if not _click_installed:
        return
    import sys

    for name in _CLICK_MODULES:
        module = sys.modules.get(name)
        if module is None:  # not loaded (nothing is loaded for this: `--help` stays light)
            continue
        if hasattr(module, "_"):
            module._ = _  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]
    rich_utils = sys.modules.get("typer.rich_utils")
    if rich_utils is not None:
        for attr, english in _TYPER_CONSTANTS.items():
            if hasattr(rich_utils, attr):
                setattr(rich_utils, attr, _(english))


def click_messages() -> list[str]:
    """Click's and Typer's messages tcplab translates (the catalog's extraction adds them)."""
    return list(_TYPER_CONSTANTS.values())
