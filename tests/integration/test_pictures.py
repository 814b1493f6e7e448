"""--svg and --html against the real kernel: the picture of a handshake, of a scenario run and of
a lab check, each well-formed SVG with its segments in the order they crossed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcplab.netns.record import TestbedSpec
from tests.conftest import run_cli

pytestmark = pytest.mark.netns
NS = "{http://www.w3.org/2000/svg}"
REPO = Path(__file__).resolve().parents[2]


def segments(svg: ET.Element) -> list[str]:
    """The first line of each segment drawn, in order."""
    out = []
    for g in svg.iter(f"{NS}g"):
        if "tl-seg" in (g.get("class") or "").split():
            first = g.find(f"{NS}text")
            assert first is not None
            out.append("".join(first.itertext()))
    return out


def test_handshake_svg_draws_the_three_segments_and_the_kernels_states(
    lab: TestbedSpec, tmp_path: Path
) -> None:
    picture = tmp_path / "hs.svg"
    out = run_cli("handshake", "--target", f"{lab.kernel}:7788", "--svg", str(picture), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    svg = ET.parse(picture).getroot()
    segs = segments(svg)
    assert [s.split()[0] for s in segs[:3]] == ["S", "S.", "."]  # then our RST (no --keep)
    assert len(segs) == sum(1 for r in report["ladder"] if r["kind"] == "segment")
    words = ["".join(t.itertext()) for t in svg.iter(f"{NS}text")]
    assert words.index("SYN_RECEIVED") < words.index("ESTABLISHED")


def test_run_svg_writes_one_picture_per_scenario(tmp_path: Path) -> None:
    scenario = REPO / "scenarios" / "passive-open.toml"
    out = run_cli("run", str(scenario), "--svg", str(tmp_path), timeout=120)
    assert out.returncode in (0, 1), out.stderr
    (picture,) = tmp_path.glob("*.svg")
    assert picture.name == "passive-open.svg"
    assert segments(ET.parse(picture).getroot())


def test_lab_check_writes_the_svg_and_the_html_report(tmp_path: Path) -> None:
    svg, page = tmp_path / "tw.svg", tmp_path / "r.html"
    out = run_cli(
        "lab", "check", "time-wait", "--reference", "--svg", str(svg), "--html", str(page),
        timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    segs = segments(ET.parse(svg).getroot())
    assert segs[0].startswith("S ") and any(s.startswith("F.") for s in segs)
    html = page.read_text(encoding="utf-8")
    assert html.count('<div class="ladder"><svg ') == 1
    assert "<details><summary>The ladder as text</summary>" in html


def test_send_svg_draws_the_segment_and_the_kernels_answer(
    lab: TestbedSpec, tmp_path: Path
) -> None:
    picture = tmp_path / "send.svg"
    out = run_cli("send", "--target", f"{lab.kernel}:7788", "--flags", "S", "--svg", str(picture))
    assert out.returncode == 0, out.stderr
    segs = segments(ET.parse(picture).getroot())
    assert [s.split()[0] for s in segs[:2]] == ["S", "S."]
