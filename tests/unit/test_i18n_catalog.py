"""The translation catalogs: complete, placeholders kept, compiled, and the language chosen as
documented (--lang, then TCPLAB_LANG, then the locale)."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tcplab import i18n
from tests.conftest import catalog_tool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tool():
    return catalog_tool()


@pytest.fixture(scope="module")
def template(tool):
    return tool.extract()


def test_the_sources_have_messages_to_translate(template):
    assert len(template) > 50


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != i18n.ENGLISH])
def test_every_message_is_translated_with_the_same_placeholders(tool, template, lang):
    po = REPO / "tcplab" / "locale" / lang / "LC_MESSAGES" / "tcplab.po"
    found = tool.problems(po, template)
    assert not found, f"{len(found)} problems (python scripts/catalog.py check):\n" + "\n".join(
        found[:40]
    )


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != i18n.ENGLISH])
def test_the_shipped_mo_is_compiled_from_the_po(lang):
    folder = REPO / "tcplab" / "locale" / lang / "LC_MESSAGES"
    with (folder / "tcplab.po").open("rb") as f:
        catalog = read_po(f)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    fresh = gettext.GNUTranslations(buf)
    with (folder / "tcplab.mo").open("rb") as f:
        shipped = gettext.GNUTranslations(f)
    # the header ("") holds the date Babel read the .po: everything else must be equal
    want = {k: v for k, v in fresh._catalog.items() if k != ""}  # type: ignore[attr-defined]
    have = {k: v for k, v in shipped._catalog.items() if k != ""}  # type: ignore[attr-defined]
    assert have == want, "run: python scripts/catalog.py compile"


def test_the_placeholder_pattern_sees_both_styles(tool):
    assert tool.placeholders("{n} segments, %s and %(name)d") == ["%(name)d", "%s", "{n}"]


@pytest.mark.parametrize(
    ("name", "lang"),
    [
        ("zh_CN.UTF-8", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh_TW.UTF-8", "zh_CN"),
        ("en_US.UTF-8", "en"),
        ("C.UTF-8", "en"),
        ("POSIX", "en"),
        ("de_DE.UTF-8", None),
        ("", None),
    ],
)
def test_names_of_languages(name, lang):
    assert i18n.normalize(name) == lang


def test_the_flag_comes_first_then_tcplab_lang_then_the_locale():
    env = {"TCPLAB_LANG": "en", "LANG": "zh_CN.UTF-8"}
    assert i18n.choose("zh_CN", env) == "zh_CN"
    assert i18n.choose(None, env) == "en"
    assert i18n.choose(None, {"LANG": "zh_CN.UTF-8"}) == "zh_CN"
    assert i18n.choose(None, {"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}) == "zh_CN"
    assert i18n.choose(None, {"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}) == "en"
    assert i18n.choose(None, {"LANGUAGE": "fr:zh_CN", "LANG": "en_US.UTF-8"}) == "zh_CN"
    # like gettext, LANGUAGE counts only when a locale other than C is set
    assert i18n.choose(None, {"LANGUAGE": "zh_CN", "LANG": "C.UTF-8"}) == "en"
    assert i18n.choose(None, {"LANGUAGE": "zh_CN"}) == "en"
    assert i18n.choose(None, {"LANG": "de_DE.UTF-8"}) == "en"
    assert i18n.choose(None, {}) == "en"


def test_a_language_asked_for_by_name_that_tcplab_does_not_speak_is_an_error():
    with pytest.raises(i18n.UnknownLanguage):
        i18n.choose("fr")
    with pytest.raises(i18n.UnknownLanguage):
        i18n.choose(None, {"TCPLAB_LANG": "klingon"})


def test_english_is_the_source_text_itself():
    i18n.set_language("en")
    assert i18n._("the SYN") == "the SYN"
    assert i18n.ngettext("{n} segment", "{n} segments", 2) == "{n} segments"


def test_an_empty_text_stays_empty_in_every_language():
    """gettext's "" is the catalog's header: an empty title or note must not print it."""
    try:
        i18n.set_language("zh_CN")
        assert i18n._("") == ""
        assert i18n._("the SYN") != "" and i18n._("") == ""
    finally:
        i18n.set_language("en")


def test_a_preloaded_catalog_needs_no_file_and_a_missing_one_is_english(monkeypatch, tmp_path):
    """The grader's zygote reads the catalogs before a solution is jailed (where the package's
    files may be hidden); a student's program whose catalog cannot be read speaks English."""
    monkeypatch.setattr(i18n, "_loaded", {})
    i18n.preload()
    monkeypatch.setattr(i18n, "LOCALEDIR", tmp_path / "hidden")
    monkeypatch.setenv("TCPLAB_LANG", "zh_CN")
    try:
        i18n.speak_from_environment()
        assert i18n.language() == "zh_CN" and i18n._("the SYN") != "the SYN"
        monkeypatch.setattr(i18n, "_loaded", {})
        i18n.speak_from_environment()
        assert i18n.language() == "en"
    finally:
        i18n.set_language("en")
