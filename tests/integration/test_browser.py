"""The pictures in a real browser: headless Chromium renders the HTML reports and the SVGs that
real runs write (`handshake --svg`, `lab check --html`, a grading run's report.html); each must
render (a screenshot that is not blank, of the size asked for, no console error, no parse error, no
broken image), each SVG must be well-formed XML with the exchange in order and the state diagram's
labels. The harness itself is tested first: it must catch what it exists to catch.

Screenshots are kept in the artifacts folder ($TCPLAB_ARTIFACTS, else artifacts/screenshots/ in the
checkout), which CI keeps after the run. Outside CI a missing Chromium skips these tests with the
reason; under CI=true it fails them.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcplab.model.state import State
from tests import labcases
from tests.browser import (
    PROFILES,
    BrowserError,
    Options,
    Page,
    blank_reason,
    chromium,
    find_chromium,
    processes_using,
    read_png,
    render,
)
from tests.conftest import IN_CI, REPO, run_cli

SVG_NS = "{http://www.w3.org/2000/svg}"
FAILED_TIME_WAIT = "fin_off_by_one_throughout"  # the kernel ends in CLOSING, never TIME_WAIT


def artifacts() -> Path:
    """Where screenshots are kept after the run."""
    folder = Path(os.environ.get("TCPLAB_ARTIFACTS") or REPO / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module", autouse=True)
def _browser() -> None:
    if find_chromium() is None:
        reason = "no chromium on PATH (Debian: apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def look(target: Path, name: str, **options: object) -> Page:
    """Render `target` into the artifacts folder as NAME.png, and require a good page."""
    page = render(target, artifacts() / f"{name}.png", Options(**options))  # type: ignore[arg-type]
    assert page.problems == [], page.problems
    image = read_png(page.screenshot)
    assert (image.width, image.height) == page.size
    assert blank_reason(image) == "", f"{name}.png looks blank: {blank_reason(image)}"
    return page


def assert_scheme(page: Page, dark: bool) -> None:
    """The picture follows the colour scheme: its main colour (the background) is dark in a dark
    scheme and light in a light one."""
    image = read_png(page.screenshot)
    main, _ = image.colours().most_common(1)[0]
    brightness = sum(main) / 3
    assert (brightness < 80) if dark else (brightness > 200), (page.screenshot, main.hex())


def in_order(text: str, phrases: list[str]) -> None:
    """Each phrase occurs in `text` after the one before it."""
    pos = 0
    for phrase in phrases:
        found = text.find(phrase, pos)
        assert found >= 0, f"{phrase!r} not found after position {pos}: {text[pos : pos + 300]!r}"
        pos = found + len(phrase)


def flat(text: str) -> str:
    """State names however a picture spells them: SYN_RECEIVED, SYN-RECEIVED, SYN RECEIVED."""
    return re.sub(r"[-_\s]+", "_", text)


def svg_text(root: ET.Element) -> str:
    """The text of an SVG in document order, one piece per line."""
    return "\n".join(t.strip() for t in root.itertext() if t.strip())


def svg_flags(root: ET.Element) -> list[str]:
    """The flags of each segment arrow in document order (the svg helper marks them tl-flags)."""
    return [e.text or "" for e in root.iter() if "tl-flags" in e.get("class", "").split()]


def classed(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in e.get("class", "").split()]


def step_numbers(*roots: ET.Element) -> list[int]:
    """The numbers on the state diagrams' highlighted paths (the states helper's tls-numtext),
    sorted, after checking there are highlighted arrows (tls-hl) to carry them."""
    assert any(classed(r, "tls-hl") for r in roots), "the state diagram highlights no path"
    return sorted(int(e.text or "0") for r in roots for e in classed(r, "tls-numtext"))


def subsequence(found: list[str], wanted: list[str]) -> bool:
    """`wanted` occurs in `found` in this order, not necessarily side by side."""
    rest = iter(found)
    return all(any(f == w for f in rest) for w in wanted)


# ---- the harness catches what it exists to catch ---------------------------------------------


def test_harness_catches_a_console_error_and_an_exception(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><body><h1>hello</h1><script>console.log('fine');"
        "console.error('boom from the page'); undefinedFunction();</script></body></html>"
    )
    seen = render(page, tmp_path / "page.png", Options(width=640, height=480))
    assert [str(m) for m in seen.messages if m.level == "log"] == ["log: fine"]
    assert "error: boom from the page" in seen.problems
    assert any("undefinedFunction is not defined" in p for p in seen.problems), seen.problems


def test_harness_catches_a_malformed_svg(tmp_path: Path) -> None:
    svg = tmp_path / "bad.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"></svg>')
    seen = render(svg, tmp_path / "bad.png", Options(width=640, height=480))
    assert seen.parse_error and "Unexpected closing tag" in seen.parse_error
    assert seen.problems


def test_harness_catches_an_image_that_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "broken.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'><g></svg>")
    page = tmp_path / "page.html"
    page.write_text('<html><body><img src="missing.svg"><img src="broken.svg"></body></html>')
    seen = render(page, tmp_path / "page.png", Options(width=640, height=480))
    broken = sorted(Path(src).name for src in seen.broken_images)
    assert broken == ["broken.svg", "missing.svg"]
    assert any("ERR_FILE_NOT_FOUND" in p for p in seen.problems), seen.problems


def test_harness_reads_the_screenshot_pixel_for_pixel(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body style='margin:0;background:#fff'>"
        "<div style='width:100px;height:50px;background:#3a7f20'></div>"
        "<p style='font-size:30px;color:#a02060'>SYN SYN+ACK ACK</p></body></html>"
    )
    seen = render(page, tmp_path / "page.png", Options(width=320, height=200, full=False))
    image = read_png(seen.screenshot)
    assert (image.width, image.height) == (320, 200) == seen.size
    px = image.channels
    assert image.pixels[10][10 * px : 10 * px + 3] == bytes.fromhex("3a7f20")
    assert image.pixels[10][200 * px : 200 * px + 3] == bytes.fromhex("ffffff")
    assert image.pixels[190][10 * px : 10 * px + 3] == bytes.fromhex("ffffff")
    assert blank_reason(image) == ""
    assert "SYN SYN+ACK ACK" in seen.text


def test_harness_cuts_the_screenshot_down_to_one_element(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body style='margin:0'><h1>title</h1>"
        "<div style='margin:40px;width:200px;height:80px;background:#204a87'></div></body></html>"
    )
    options = Options(width=640, height=480, selector="div", margin=5)
    seen = render(page, tmp_path / "cut.png", options)
    image = read_png(seen.screenshot)
    assert (image.width, image.height) == seen.size == (210, 90)
    px = image.channels
    assert image.pixels[45][105 * px : 105 * px + 3] == bytes.fromhex("204a87")
    with pytest.raises(BrowserError, match="nothing on the page matches"):
        render(page, tmp_path / "none.png", Options(selector="svg"))


def test_the_docs_pictures_are_there_and_not_blank() -> None:
    """docs/pictures.md shows each picture docs/pictures/make.py makes, each a real screenshot."""
    doc = (REPO / "docs" / "pictures.md").read_text()
    shown = re.findall(r"\]\((pictures/[\w-]+\.png)\)", doc)
    assert shown == [
        "pictures/handshake.png",
        "pictures/time-wait-failed.png",
        "pictures/state-tour.png",
    ]
    for name in shown:
        image = read_png(REPO / "docs" / name)
        assert image.width >= 600 and blank_reason(image) == "", name


def test_harness_calls_a_white_page_blank(tmp_path: Path) -> None:
    page = tmp_path / "white.html"
    page.write_text("<html><body></body></html>")
    seen = render(page, tmp_path / "white.png", Options(width=320, height=200))
    assert seen.problems == []
    assert blank_reason(read_png(seen.screenshot)) == "only 1 colours"


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(ci: str, outcome: str) -> None:
    env = {**os.environ, "TCPLAB_CHROMIUM": "no-such-browser", "CI": ci}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "white_page_blank",
         "tests/integration/test_browser.py"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert outcome in out.stdout, out.stdout
    assert ("CI=true but no chromium" in out.stdout) == bool(ci), out.stdout
    assert out.returncode == (1 if ci else 0), out.stdout


def test_a_page_that_never_loads_is_stopped_and_leaves_no_process(tmp_path: Path) -> None:
    page = tmp_path / "loop.html"
    page.write_text("<html><body><script>while (true) {}</script></body></html>")
    with pytest.raises(BrowserError, match="did not answer in time"), chromium(timeout=8) as pipe:
        profile = pipe.profile
        session = pipe.open_tab(Options())
        pipe.call("Page.navigate", session, url=page.as_uri())
        pipe.wait_for("Page.loadEventFired")
    assert processes_using(profile) == []
    assert not Path(profile).exists()


# ---- real runs' pictures ---------------------------------------------------------------------

netns = pytest.mark.netns


@functools.cache
def _has_svg_option(*command: str) -> bool:
    return "--svg" in run_cli(*command, "--help", env={**os.environ, "COLUMNS": "200"}).stdout


def _require_svg_option(*command: str) -> None:
    if _has_svg_option(*command):
        return
    reason = f"tcplab {' '.join(command)} has no --svg yet (the svg helper's part of issue 14)"
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def check_svg(path: Path, name: str, flags: list[str], states: list[str]) -> str:
    """A well-formed SVG whose arrows carry the flags in this order, with the exchange's states in
    order and the state diagram's 11 labels, rendered cleanly by Chromium in both schemes and
    for print."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg", root.tag
    assert subsequence(svg_flags(root), flags), (svg_flags(root), flags)
    text = flat(svg_text(root))
    in_order(text, [flat(s) for s in states])
    missing = [s.value for s in State if flat(s.value) not in text]
    assert missing == [], f"the state diagram lacks {missing}"
    assert_scheme(look(path, name), dark=False)
    assert_scheme(look(path, f"{name}-dark", dark=True), dark=True)
    # printed from a dark-themed browser, it still prints dark on white
    assert_scheme(look(path, f"{name}-print", dark=True, print_media=True), dark=False)
    return text


@netns
def test_handshake_svg_renders_the_ladder_and_the_state_diagram(lab, tmp_path: Path) -> None:
    _require_svg_option("handshake")
    svg = tmp_path / "hs.svg"
    out = run_cli("handshake", "--target", f"{lab.kernel}:7788", "--svg", str(svg))
    assert out.returncode == 0, out.stderr
    root = ET.parse(svg).getroot()
    assert svg_flags(root)[:3] == ["S", "S.", "."], svg_flags(root)
    text = check_svg(svg, "handshake-svg", ["S", "S.", "."], ["SYN_RECEIVED", "ESTABLISHED"])
    assert "you" in text and "kernel" in text
    # you: CLOSED → SYN_SENT → ESTABLISHED, the kernel: LISTEN → SYN_RECEIVED → ESTABLISHED
    assert step_numbers(root) == [1, 1, 2, 2]


def lab_check_html(tmp_path: Path, lab: str, *args: str) -> tuple[int, Path]:
    html = tmp_path / f"{lab}.html"
    out = run_cli("lab", "check", lab, *args, "--html", str(html), "--hint-level", "1", timeout=180)
    assert out.returncode in (0, 1), out.stderr
    assert html.is_file(), out.stderr
    return out.returncode, html


def inline_svgs(html: Path) -> list[ET.Element]:
    """Each <svg> of an HTML page, parsed as XML (the report embeds them as XML-clean markup)."""
    text, found, depth, start = html.read_text(), [], 0, 0
    for tag in re.finditer(r"<svg\b|</svg>", text):  # an <svg> may hold others: the outermost
        if tag.group() == "<svg":
            start, depth = (tag.start() if depth == 0 else start), depth + 1
        else:
            depth -= 1
            if depth == 0:
                found.append(ET.fromstring(text[start : tag.end()]))
    return found


def check_report(html: Path, name: str, flags: list[str], states: list[str]) -> Page:
    """The report renders; its ladder shows the states in order; once the pictures are embedded,
    each SVG in it is well-formed, its arrows carry the flags in order and its state diagram
    names every state."""
    page = look(html, name)
    ladder = page.text.find("Ladder")
    assert ladder >= 0, f"{html.name} shows no ladder"
    in_order(flat(page.text[ladder:]), [flat(s) for s in states])
    svgs = inline_svgs(html)
    if _has_svg_option("handshake"):  # the pictures have landed: the report must embed them
        assert svgs, f"{html.name} embeds no SVG"
        found = [f for s in svgs for f in svg_flags(s)]
        assert subsequence(found, flags), (found, flags)
        text = flat("\n".join(svg_text(s) for s in svgs))
        missing = [s.value for s in State if flat(s.value) not in text]
        assert missing == [], f"the report's state diagram lacks {missing}"
        numbers = step_numbers(*svgs)
        assert numbers[:1] == [1] and len(numbers) >= len(states) - 1, numbers
        in_order(text, [flat(s) for s in states])
        assert_scheme(page, dark=False)
        assert_scheme(look(html, f"{name}-dark", dark=True), dark=True)
        # printed: kept to look at, not judged (the page keeps its dark ground; its SVGs print light)
        look(html, f"{name}-print", dark=True, print_media=True)
    else:
        look(html, f"{name}-dark", dark=True)
    return page


@netns
def test_a_failed_time_wait_attempt_renders(tmp_path: Path) -> None:
    case = next(c for c in labcases.cases("time-wait") if labcases.case_name(c) == FAILED_TIME_WAIT)
    solution = labcases.write_solution("time-wait", case, tmp_path)
    code, html = lab_check_html(tmp_path, "time-wait", str(solution))
    assert code == 1
    states = ["SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "CLOSING"]
    page = check_report(html, "time-wait-failed", ["S", "S.", ".", "F.", ".", "F."], states)
    assert "score: 2 / 15" in page.text


@netns
def test_a_state_tour_run_renders(tmp_path: Path) -> None:
    code, html = lab_check_html(tmp_path, "state-tour", "--reference")
    assert code == 0
    check_report(
        html, "state-tour", ["S", "S.", "F."], ["SYN_RECEIVED", "ESTABLISHED", "TIME_WAIT"]
    )


@netns
def test_a_grading_report_renders(tmp_path: Path) -> None:
    subs, out = tmp_path / "submissions", tmp_path / "out"
    (subs / "ada").mkdir(parents=True)
    shutil.copy(REPO / "labs" / "handshake" / "solution.py", subs / "ada" / "handshake.py")
    proc = run_cli("grade", str(subs), "--lab", "handshake", "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = out / "ada" / "report.html"
    page = check_report(report, "grade-report", ["S", "S.", "."], ["SYN_RECEIVED", "ESTABLISHED"])
    assert "ada" in page.text


def test_no_chromium_is_left_running() -> None:
    """Every render above removed its profile and its processes."""
    assert len(PROFILES) >= 10
    assert [p for p in PROFILES if processes_using(p) or Path(p).exists()] == []
