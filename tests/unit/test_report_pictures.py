"""The pictures in the reports: report.html puts the exchange's SVG inline (sequence and state
diagrams) with the text ladder in a <details>; report.md a ```mermaid block and the text ladder;
--svg on handshake, send, run and lab check refuses a path it cannot write before anything runs."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcplab.cli import main
from tcplab.grade import outputs
from tcplab.grade.outcome import Outcome, Verdict
from tests import drawcases

REPO = Path(__file__).resolve().parents[2]
META = {"tcplab_version": "0.0-test", "kernel": "6.1", "seed": 1}
NS = "{http://www.w3.org/2000/svg}"


def outcome(lab: str = "time-wait", name: str = "reference", **kw: object) -> Outcome:
    fields: dict[str, object] = {
        "student": "alice", "lab": lab, "lab_title": "t", "verdict": Verdict.SCORED,
        "message": "ok", "max_score": 10, "score": 10,
        "report": drawcases.report(lab, name), "ladder_text": "S ->\n<- S.",
    }  # fmt: skip
    fields.update(kw)
    return Outcome(**fields)  # type: ignore[arg-type]


def pictures(page: str) -> list[ET.Element]:
    """Each ladder's <svg> in an HTML page, parsed as XML (it must be well-formed alone)."""
    found = re.findall(r'<div class="ladder">(<svg.*?</svg>)</div>', page, flags=re.S)
    return [ET.fromstring(svg.replace("<svg ", f'<svg xmlns="{NS[1:-1]}" ', 1)) for svg in found]


def test_report_html_draws_the_exchange_inline_and_keeps_the_text():
    page = outputs.report_html([outcome()], META)
    (svg,) = pictures(page)
    words = ["".join(t.itertext()) for t in svg.iter(f"{NS}text")]
    assert words.index("TIME_WAIT") > words.index("FIN_WAIT_2")
    assert "<details><summary>The ladder as text</summary><pre>S -&gt;" in page
    assert "http" not in page  # nothing named outside the page, not even a namespace


def test_every_lab_of_a_student_gets_its_own_picture():
    labs = [("handshake", "reference"), ("rst", "reference"), ("state-tour", "reference")]
    page = outputs.report_html([outcome(lab, name) for lab, name in labs], META)
    assert len(pictures(page)) == 3
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "an id twice in one page: a marker would point elsewhere"


def test_report_html_without_a_report_keeps_the_rendered_ladder_or_says_none():
    kept = outputs.report_html([outcome(report=None, ladder_html="<pre>rich</pre>")], META)
    assert '<div class="ladder"><pre>rich</pre></div>' in kept
    none = outputs.report_html([outcome(report=None, ladder_text="", ladder_html="")], META)
    assert "No segments were observed." in none


def test_report_md_has_a_mermaid_block_then_the_text_ladder():
    md = outputs.report_markdown([outcome()], META)
    block = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.startswith("sequenceDiagram\n")
    assert "    Note over kernel: FIN_WAIT_2 → TIME_WAIT" in block
    assert md.index("```mermaid") < md.index("```text\nS ->")


def test_hostile_student_output_stays_escaped_beside_the_picture():
    page = outputs.report_html([outcome(stdout="<script>x</script>]]>")], META)
    assert "<script>" not in page
    assert len(pictures(page)) == 1


# ---- --svg paths, refused before anything runs ----------------------------------------------


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ok.toml").write_text((REPO / "scenarios" / "passive-open.toml").read_text())
    (tmp_path / "handshake.py").write_text("print('hi')\n")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("/etc/hostname")
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "ok.svg").symlink_to("/etc/passwd")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("os.geteuid", lambda: 1000)  # anything needing root stops with exit 3
    return tmp_path


BAD_SVG = [
    (["handshake", "--svg", "fifo"], "--svg fifo: a FIFO, not a regular file", "exchange.svg"),
    (["handshake", "--svg", "adir"], "--svg adir: a folder, not a regular file", "exchange.svg"),
    (["send", "--svg", "link"], "--svg link: a symbolic link", "exchange.svg"),
    (["send", "--svg", "no/such/x.svg"], "No such file or directory", "exchange.svg"),
    (["send", "--svg", ""], "an empty path", "exchange.svg"),
    (["run", "ok.toml", "--svg", "afile"], "--svg afile: a regular file, not a folder", "folder"),
    (["run", "ok.toml", "--svg", "nowhere"], "--svg nowhere: No such file", "folder"),
    (["run", "ok.toml", "--svg", "shots"], "ok.svg: a symbolic link", "folder"),
    (["lab", "check", "handshake", "--svg", "fifo"], "--svg fifo: a FIFO", "handshake.svg"),
    (["lab", "check", "handshake", "--svg", "handshake.py"], "is your solution", "handshake.svg"),
]


@pytest.mark.parametrize(
    ("args", "message", "hint"), BAD_SVG, ids=[" ".join(a) for a, *_ in BAD_SVG]
)
def test_a_bad_svg_path_is_one_error_and_hint_and_nothing_made(
    capsys: pytest.CaptureFixture[str], folder: Path, args: list[str], message: str, hint: str
) -> None:
    before = sorted(p.name for p in folder.rglob("*"))
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert exc.value.code == 2, err
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert message in lines[0] and hint in lines[1]
    assert out == ""
    assert sorted(p.name for p in folder.rglob("*")) == before


def test_svg_is_in_the_help_of_every_command_that_shows_an_exchange(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for args in (["handshake"], ["send"], ["run"], ["lab", "check"]):
        with pytest.raises(SystemExit):
            main([*args, "--help"])
        assert "--svg" in capsys.readouterr().out
