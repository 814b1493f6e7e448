"""The model's words reach the catalog: every explanation, Linux note and description of the TCP
table is marked (extracted from tcplab/model by Babel, as scripts/catalog.py does) and translated
in zh_CN; an explanation with numbers keeps them in Chinese; the model still imports nothing else
of tcplab (it marks with its own N_)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tcplab.i18n import _
from tcplab.model.endpoint import Endpoint, Prediction, Sysctls
from tcplab.model.flags import Flags
from tcplab.model.notation import parse_pattern
from tcplab.model.segment import Segment
from tcplab.model.state import State
from tcplab.model.table import ROWS, Guard, Input, Num, Place
from tcplab.model.text import N_, Invalid, Text, error_text

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "tcplab" / "model"
PO = REPO / "tcplab" / "locale" / "zh_CN" / "LC_MESSAGES" / "tcplab.po"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}  # scripts/catalog.py's
CJK = re.compile(r"[\u4e00-\u9fff]")
# RFC variable and tcpdump words: the same in every language, so not prose
NOTATION = {"iss", "irs", "len", "seq", "ack", "win", "mss", "always"}


def _prose(text: str) -> bool:
    """Words for people: an English word that is not a function (listen()), a Linux identifier
    (tcp_check_req, TCPAbortOnClose), a flag or a variable (iss)."""
    words = re.findall(r"(?<![\w(])[a-z]{2,}\b(?![_(])", text)
    return any(w not in NOTATION for w in words)


def _model_texts() -> Iterator[str]:
    """Every text of the model shown to people: each case's why, each row's Linux note, the
    descriptions of the inputs, guards, numbers and places."""
    for row in ROWS:
        yield row.linux
        for case in row.cases:
            yield case.why
    for enum in (Input, Guard, Num, Place):
        for member in enum:
            yield member.value


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    """The msgids Babel extracts from tcplab/model, with the catalog tool's keywords."""
    out = set()
    for _file, _line, message, _comments, _context in extract_from_dir(MODEL, keywords=KEYWORDS):
        out.add(message if isinstance(message, str) else message[0])
    return out


@pytest.fixture(scope="module")
def translations() -> dict[str, str]:
    with PO.open("rb") as f:
        catalog = read_po(f)
    return {m.id: m.string for m in catalog if isinstance(m.id, str) and m.id and m.string}


def test_the_table_has_prose_to_translate() -> None:
    prose = {t for t in _model_texts() if _prose(t)}
    assert len(prose) > 150  # 200 or so: the prose test below would pass vacuously otherwise
    assert not _prose("cookie_v4_check") and not _prose("TCPAbortOnClose / TCPAbortOnData")
    assert _prose("nothing is sent") and _prose("1 s, doubling")


def test_every_case_why_and_linux_note_is_marked_for_the_catalog(extracted: set[str]) -> None:
    unmarked = sorted({t for t in _model_texts() if _prose(t) and t not in extracted})
    assert not unmarked, "not marked with N_ in tcplab/model:\n" + "\n".join(unmarked)


def test_every_case_why_and_linux_note_is_translated_to_chinese(
    translations: dict[str, str],
) -> None:
    missing = sorted({t for t in _model_texts() if _prose(t) and t not in translations})
    assert not missing, "no zh_CN translation:\n" + "\n".join(missing)
    english = [t for t in _model_texts() if _prose(t) and not CJK.search(translations[t])]
    assert not english, f"translated but not into Chinese: {english[:5]}"


def test_every_template_of_the_endpoint_is_in_the_catalog(
    extracted: set[str], translations: dict[str, str]
) -> None:
    for template in (
        "{why}: {numbers}",
        "{field} = its ack = {value}",
        "{field} = seq + length = {seq} + {length} = {value}",
        "{field} = {name} (not known to tcplab)",
        "app: {call}",
        "timer: {timer}",
        "app: send() of {length} bytes",
        "segment",
    ):
        assert template in extracted and template in translations


def _synack_prediction() -> tuple[Endpoint, Prediction]:
    ep = Endpoint(Sysctls(tcp_syncookies=0), place=Place.LISTEN, listener=True)
    syn = Segment(sport=40000, dport=80, seq=1000, flags=Flags.SYN)
    return ep, ep.receive(syn, now=0.0)


def test_an_explanation_with_numbers_keeps_them_in_chinese(chinese: None) -> None:
    _ep, p = _synack_prediction()
    english = p.why
    shown = p.why_text.show(_)
    assert english == (
        "a listener answers a SYN with SYN+ACK, ack = seq + 1: seq = new iss (not known to "
        "tcplab), ack = seq + length = 1000 + 1 = 1001"
    )
    assert shown == (
        "监听套接字以 SYN+ACK 回复 SYN，ack = seq + 1：seq = 新的 iss（tcplab 无法得知）, "
        "ack = seq + 长度 = 1000 + 1 = 1001"
    )
    assert "1000 + 1 = 1001" in shown
    assert p.linux_text.show(_) == "长度超过 backlog 才算满；TCPReqQFullDrop、ListenOverflows"
    assert p.case_why == "a listener answers a SYN with SYN+ACK, ack = seq + 1"
    assert _(p.case_why) == "监听套接字以 SYN+ACK 回复 SYN，ack = seq + 1"
    silent = Endpoint(place=Place.LISTEN).receive(Segment(1, 2, Flags.RST), now=0.0)
    assert silent.linux == "" and silent.linux_text.show(_) == ""  # not the catalog's header
    assert silent.silence and silent.case_why == silent.why == "a listener drops a RST, or a " + (
        "segment without SYN or ACK"
    )


def test_a_cause_with_a_count_keeps_its_number_in_chinese(chinese: None) -> None:
    ep = Endpoint(place=Place.ESTABLISHED, iss=5000, snd_una=5001, snd_nxt=5001, rcv_nxt=1)
    (p,) = ep.send(7, now=0.0)
    assert p.cause == "app: send() of 7 bytes"
    assert p.cause_text.show(_) == "应用程序：send() 发送 7 字节"
    assert p.why.endswith("len 7 (mss 536)") and p.why_text.show(_).endswith("len 7 (mss 536)")
    assert CJK.search(p.why_text.show(_))


def test_english_is_the_model_own_words_whatever_the_language(chinese: None) -> None:
    """JSON and English output read `why` and `cause`: never translated."""
    _ep, p = _synack_prediction()
    assert not CJK.search(p.why) and not CJK.search(p.cause)
    assert p.to_json()["why"] == p.why


def test_a_text_fills_its_values_after_translating_the_template() -> None:
    upper = Text.of(N_("{field} = its ack = {value}"), field="seq", value=7)
    assert upper.english == "seq = its ack = 7" and str(upper) == "seq = its ack = 7"
    assert upper.show(lambda s: s.replace("its ack", "ITS ACK")) == "seq = ITS ACK = 7"
    assert Text("").show(lambda s: "header!") == ""  # _("") would be the catalog's header
    nested = Text.of("{why}: {numbers}", why=Text("w"), numbers=(Text("a"), Text("b")))
    assert nested.show(lambda s: s if "{" in s else s.upper()) == "W: A, B"


def test_a_notation_error_keeps_its_numbers_in_chinese(chinese: None) -> None:
    with pytest.raises(Invalid) as caught:
        parse_pattern("P. 1:7(5) ack 1", wild_ok=False)
    assert str(caught.value) == "1:7(5): END must be SEQ + LEN (1 + 5 = 6)"  # English, as before
    assert error_text(caught.value, _) == "1:7(5)：END 必须等于 SEQ + LEN（1 + 5 = 6）"
    with pytest.raises(ValueError) as state:  # still a ValueError for every caller
        State.parse("ESTABLISH")
    assert error_text(state.value, _).startswith("未知的 TCP 状态 'ESTABLISH'；应为 CLOSED, ")
    assert error_text(KeyError("x"), _) == "'x'"


def test_every_model_error_for_people_is_an_invalid_with_a_marked_template() -> None:
    """A ValueError raised with an f-string could not be translated: the model's user-facing
    errors are Invalid(N_("..."), values); endpoint.py's two are a caller's programming errors."""
    for path in MODEL.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "Invalid":
                first = node.args[0]
                assert isinstance(first, ast.Call) and ast.unparse(first.func) == "N_", (
                    f"{path.name}:{node.lineno}: Invalid without N_"
                )
            if node.func.id == "ValueError" and path.name != "endpoint.py":
                raise AssertionError(f"{path.name}:{node.lineno}: ValueError, not Invalid")


def test_the_model_imports_nothing_else_of_tcplab() -> None:
    for path in MODEL.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("tcplab") or name.startswith("tcplab.model"), (
                    f"{path.name} imports {name}"
                )
