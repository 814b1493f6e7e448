"""The Chinese handouts (labs/NAME/README.zh_CN.md) and the bilingual glossary (docs/glossary.md).

A translated handout must keep every command and code block of the English one byte for byte, the
same sections, be Chinese, link the English handout, and avoid the ambiguous-width characters
(curly quotes, the ellipsis) outside code; the glossary must name every lab and point only at labs
and handouts that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
GLOSSARY = REPO / "docs" / "glossary.md"

FENCE = re.compile(r"^ *(```+)")
CJK = re.compile(r"[\u4e00-\u9fff]")
AMBIGUOUS = re.compile("[\u201c\u201d\u2018\u2019\u2026]")  # curly quotes and the ellipsis
LINK = re.compile(r"\]\(([^)#\s]+)")
SPAN = re.compile(r"`([^`]+)`")


def lab_names() -> list[str]:
    return sorted(p.parent.name for p in LABS.glob("*/README.md"))


def split(text: str) -> tuple[list[str], str]:
    """The fenced code blocks of a Markdown text (fences included), and the text outside them."""
    blocks: list[str] = []
    prose: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        fence = FENCE.match(line)
        if current is None and fence:
            current = [line]
        elif current is not None:
            current.append(line)
            if fence and line.strip() == fence.group(1):
                blocks.append("\n".join(current))
                current = None
        else:
            prose.append(line)
    assert current is None, "a fenced code block is never closed"
    return blocks, "\n".join(prose)


def headings(text: str) -> list[str]:
    _, prose = split(text)
    return [line.split(" ", 1)[0] for line in prose.splitlines() if line.startswith("#")]


def handout(lab: str) -> str:
    path = LABS / lab / "README.zh_CN.md"
    assert path.is_file(), f"labs/{lab} has no README.zh_CN.md beside its README.md"
    return path.read_text(encoding="utf-8")


def english(lab: str) -> str:
    return (LABS / lab / "README.md").read_text(encoding="utf-8")


def test_every_lab_is_covered() -> None:
    assert len(lab_names()) >= 11


@pytest.mark.parametrize("lab", lab_names())
def test_chinese_handout_keeps_every_code_block(lab: str) -> None:
    ours, _ = split(handout(lab))
    theirs, _ = split(english(lab))
    assert len(ours) == len(theirs), f"{lab}: {len(ours)} code blocks, README.md has {len(theirs)}"
    for n, (zh, en) in enumerate(zip(ours, theirs, strict=True), 1):
        assert zh == en, f"{lab}: code block {n} differs from README.md's"


def inline_code(text: str) -> set[str]:
    """The inline code spans of a Markdown text's prose (a span may wrap across lines), with the
    ellipsis written ... . A span that ends elided (`port rule: …`) quotes tcplab's output, which
    speaks the reader's language: it is left out."""
    _, prose = split(text)
    joined = re.sub(r"\s*\n\s*", " ", prose)
    spans = (s.replace("\u2026", "...") for s in SPAN.findall(joined))
    return {s for s in spans if not s.endswith("...")}


@pytest.mark.parametrize("lab", lab_names())
def test_chinese_handout_keeps_every_inline_command(lab: str) -> None:
    missing = sorted(inline_code(english(lab)) - inline_code(handout(lab)))
    assert not missing, f"{lab}: inline code of README.md changed or missing: {missing[:5]}"


@pytest.mark.parametrize("lab", lab_names())
def test_chinese_handout_has_the_same_sections(lab: str) -> None:
    assert headings(handout(lab)) == headings(english(lab))


@pytest.mark.parametrize("lab", lab_names())
def test_chinese_handout_is_chinese_and_links_the_english_one(lab: str) -> None:
    text = handout(lab)
    _, prose = split(text)
    assert len(CJK.findall(prose)) > len(prose) // 10, f"{lab}: little Chinese text"
    top = text.splitlines()[:3]
    assert any("](README.md)" in line for line in top), f"{lab}: no link to README.md at the top"


@pytest.mark.parametrize("lab", lab_names())
def test_chinese_handout_has_no_ambiguous_width_characters(lab: str) -> None:
    _, prose = split(handout(lab))
    found = [(n, line) for n, line in enumerate(prose.splitlines(), 1) if AMBIGUOUS.search(line)]
    assert not found, f"{lab}: curly quotes or ellipsis outside code: {found[:3]}"


def test_split_finds_blocks_and_prose() -> None:
    blocks, prose = split("a\n```sh\nx “y”\n```\nb …\n   ```\n  z\n   ```\n")
    assert blocks == ["```sh\nx “y”\n```", "   ```\n  z\n   ```"]
    assert prose == "a\nb …"
    assert inline_code("`a\n b` and `port rule: …`, `x … y`") == {"a b", "x ... y"}
    assert AMBIGUOUS.search(prose) and not AMBIGUOUS.search("a\n「b」 ... 'c'")


def test_glossary_names_every_lab() -> None:
    text = GLOSSARY.read_text(encoding="utf-8")
    missing = [lab for lab in lab_names() if f"labs/{lab}/" not in text]
    assert not missing, f"the glossary names no lab {missing}"


def test_glossary_points_only_at_what_exists() -> None:
    text = GLOSSARY.read_text(encoding="utf-8")
    targets = LINK.findall(text)
    assert targets, "the glossary links no lab"
    gone = [t for t in targets if "://" not in t and not (GLOSSARY.parent / t).resolve().exists()]
    assert not gone, f"the glossary points at what does not exist: {gone}"
    named = set(re.findall(r"labs/([a-z0-9-]+)/", text))
    assert named <= set(lab_names()), f"the glossary names labs that do not exist: {named}"


def test_glossary_is_bilingual_and_unambiguous() -> None:
    text = GLOSSARY.read_text(encoding="utf-8")
    _, prose = split(text)
    assert CJK.search(prose)
    assert not AMBIGUOUS.search(prose), "curly quotes or ellipsis in the glossary"
    for term in ("incarnation", "challenge ACK", "request sock", "TIME_WAIT", "2MSL", "60 s"):
        assert term in text, f"the glossary lacks {term!r}"
