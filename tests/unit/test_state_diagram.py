"""The state diagram (tcplab.draw.states): its arrows are exactly the table's changes of state, its
layout keeps labels clear of boxes and of each other, and the SVG is well-formed, themed, scoped
and shows each path in order."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import combinations, pairwise

import pytest

from tcplab.draw import layout
from tcplab.draw.graph import transitions
from tcplab.draw.states import diagram, document, listing
from tcplab.engine.ladder import Path
from tcplab.engine.report import Side
from tcplab.model.state import State
from tcplab.model.table import ROWS, Place, edges

NS = {"s": "http://www.w3.org/2000/svg"}
HANDSHAKE_KERNEL = Path(Side.KERNEL, "", ("LISTEN", "SYN_RECEIVED", "ESTABLISHED"))
HANDSHAKE_YOU = Path(Side.CRAFTING, "", ("CLOSED", "SYN_SENT", "ESTABLISHED"))


def _table_changes() -> set[tuple[State, State]]:
    """Read straight from the rows: every case whose next place is in another RFC state."""
    out = set()
    for row in ROWS:
        for place in row.places:
            for case in row.cases:
                if case.next is not None and case.next.state is not place.state:
                    out.add((place.state, case.next.state))
    return out


def test_every_change_of_state_the_table_makes_is_an_arrow_and_every_arrow_is_one():
    drawn = {(t.source, t.target) for t in transitions()}
    assert drawn == _table_changes()
    assert drawn == set(layout.ROUTES)  # and each has its place in the layout


def test_each_arrow_groups_the_tables_edges_between_its_two_states():
    by_pair = {(t.source, t.target): t for t in transitions()}
    for edge in edges():
        if edge.source is not edge.target:
            assert edge in by_pair[(edge.source, edge.target)].edges


@pytest.mark.parametrize(
    ("source", "target", "line"),
    [
        (State.LISTEN, State.SYN_RECEIVED, "rcv SYN / snd SYN,ACK"),
        (State.CLOSED, State.SYN_SENT, "connect() / snd SYN"),
        (State.ESTABLISHED, State.FIN_WAIT_1, "close(), shutdown() / snd FIN"),
        (State.FIN_WAIT_1, State.FIN_WAIT_2, "rcv ACK of FIN"),
        (State.SYN_SENT, State.ESTABLISHED, "rcv SYN,ACK / snd ACK"),
        (State.SYN_RECEIVED, State.ESTABLISHED, "rcv ACK of SYN"),
        (State.TIME_WAIT, State.CLOSED, "rcv RST, timeout 60 s"),
        (State.ESTABLISHED, State.CLOSED, "rcv RST"),
        (State.SYN_RECEIVED, State.LISTEN, "rcv RST, retries out"),
    ],
)
def test_labels_read_as_the_rfcs_diagram(source, target, line):
    (t,) = [t for t in transitions() if (t.source, t.target) == (source, target)]
    assert line in " ".join(t.lines)  # a long label is on two lines


def test_a_request_sock_and_an_orphan_share_their_states_arrows():
    assert Place.REQUEST.state is State.SYN_RECEIVED
    assert Place.ORPHAN_FIN_WAIT_2.state is State.FIN_WAIT_2
    fw2 = [t for t in transitions() if t.source is State.FIN_WAIT_2 and t.target is State.CLOSED]
    assert "fin_timeout" in fw2[0].label  # the orphan's timer, on FIN_WAIT_2's arrow


def test_label_lines_are_short():
    for t in transitions():
        assert all(len(line) <= 28 for line in t.lines), t.lines


def _labels() -> list[tuple[str, layout.Rect]]:
    return [
        (f"{t.source}->{t.target}", layout.label_box(layout.ROUTES[(t.source, t.target)], t.lines))
        for t in transitions()
    ]


def test_no_label_overlaps_a_box():
    for name, box in _labels():
        for node in layout.NODES.values():
            assert not box.overlaps(node.rect, gap=2), (name, node.key)


def test_no_label_overlaps_another():
    for (a, box_a), (b, box_b) in combinations(_labels(), 2):
        assert not box_a.overlaps(box_b, gap=2), (a, b)


def test_no_box_overlaps_another_and_all_fit_on_the_picture():
    nodes = list(layout.NODES.values())
    for a, b in combinations(nodes, 2):
        assert not a.rect.overlaps(b.rect, gap=10), (a.key, b.key)
    whole = layout.Rect(0, 0, layout.WIDTH, layout.HEIGHT)
    for _, box in _labels():
        assert box.x >= 0 and box.y >= 0
        assert box.x + box.w <= whole.w and box.y + box.h <= whole.h


def _segment_box(a: tuple[float, float], b: tuple[float, float]) -> layout.Rect:
    return layout.Rect(min(a[0], b[0]), min(a[1], b[1]), abs(a[0] - b[0]), abs(a[1] - b[1]))


def test_the_legend_corner_is_free():
    corner = layout.LEGEND_BOX
    for _, box in _labels():
        assert not box.overlaps(corner)
    for node in layout.NODES.values():
        assert not node.rect.overlaps(corner)
    for route in layout.ROUTES.values():
        for a, b in pairwise(route.points):
            assert not _segment_box(a, b).overlaps(corner)


def test_the_longest_legend_fits_its_corner():
    paths = [Path(Side.KERNEL, f":{40000 + i}⇄:{50000 + i}", ("LISTEN",)) for i in range(12)]
    svg = diagram(paths, title="x" * 80).svg
    root = _parse(svg)
    corner = layout.LEGEND_BOX
    for text in root.iter(f"{{{NS['s']}}}text"):
        for span in text:
            x, y = float(span.get("x", 0)), float(span.get("y", 0))
            if y < corner.y + corner.h + 20 and x < corner.x + corner.w:
                line = span.text or ""
                right = x + layout.text_width(line) * (
                    15 / 11 if "title" in text.get("class", "") else 1
                )
                assert y <= corner.y + corner.h and right <= 560, line
    assert "and 6 more" in "".join(root.itertext())


def test_every_route_runs_from_its_source_box_to_its_target_box_orthogonally():
    for (source, target), route in layout.ROUTES.items():
        a, b = layout.NODES[route.source], layout.NODES[route.target]
        assert a.state is source and b.state is target
        assert a.rect.touches(route.points[0]), (source, target)
        assert b.rect.touches(route.points[-1]), (source, target)
        for (x1, y1), (x2, y2) in pairwise(route.points):
            assert x1 == x2 or y1 == y2, (source, target)


def test_each_of_the_11_states_has_one_box_of_its_own():
    main = [n for n in layout.NODES.values() if not n.stub and n.key != "CLOSED:end"]
    assert sorted(n.state.value for n in main) == sorted(s.value for s in State)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_the_plain_diagram_is_well_formed_and_names_every_state():
    drawn = diagram([])
    root = _parse(document(drawn).split("\n", 1)[1])
    assert root.get("viewBox") == f"0 0 {drawn.width:g} {drawn.height:g}"
    texts = "".join(root.itertext())
    for state in State:
        assert state.value in texts
    assert "rcv SYN / snd SYN,ACK" in texts
    assert 'class="tls-hl' not in drawn.svg  # nothing highlighted


def test_the_document_is_standalone_xml():
    text = document(diagram([HANDSHAKE_KERNEL]))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "http:" not in text.replace("http://www.w3.org/2000/svg", "")  # no external reference
    assert "href" not in text


def test_the_theme_is_css_with_a_dark_scheme_and_no_inline_colours():
    svg = diagram([HANDSHAKE_KERNEL, HANDSHAKE_YOU]).svg
    assert "@media (prefers-color-scheme: dark)" in svg
    assert "system-ui" in svg and "sans-serif" in svg
    body = svg.split("</style>", 1)[1]
    assert not re.search(r"(fill|stroke)=\"#", body)  # colours come from classes only
    assert "#0072B2" in svg and "#E69F00" in svg  # Okabe-Ito: kernel blue, you orange


def test_ids_and_style_rules_carry_the_prefix():
    a = diagram([HANDSHAKE_KERNEL], prefix="one").svg
    b = diagram([HANDSHAKE_KERNEL], prefix="two").svg
    ids_a = set(re.findall(r'id="([^"]+)"', a))
    ids_b = set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b
    assert all(i.startswith("one") for i in ids_a)
    style = a.split("<style>", 1)[1].split("</style>", 1)[0]
    rules = [r.strip() for r in re.findall(r"([^{}]+)\{", style) if not r.strip().startswith("@")]
    assert rules and all(sel.strip().startswith("#one") for r in rules for sel in r.split(","))


def _numbers(svg: str, slot: int) -> list[int]:
    root = _parse(svg)
    out = []
    circles = list(root.iter(f"{{{NS['s']}}}circle"))
    texts = [t for t in root.iter(f"{{{NS['s']}}}text") if "tls-numtext" in t.get("class", "")]
    for circle, text in zip(circles, texts, strict=True):
        if f"tls-c{slot}" in circle.get("class", ""):
            out.append(int(text.text or "0"))
    return out


def test_a_path_is_highlighted_and_numbered_in_order():
    svg = diagram([HANDSHAKE_KERNEL], title="handshake").svg
    assert svg.count('class="tls-hl tls-c0"') == 2 + 1  # two arrows and the legend's sample
    assert sorted(_numbers(svg, 0)) == [1, 2]
    assert "handshake" in svg and "kernel" in "".join(_parse(svg).itertext())


def test_an_arrow_taken_twice_carries_both_numbers():
    twice = Path(Side.KERNEL, "", ("LISTEN", "SYN_RECEIVED", "LISTEN", "SYN_RECEIVED"))
    assert sorted(_numbers(diagram([twice]).svg, 0)) == [1, 2, 3]
    assert _numbers(diagram([twice]).svg, 0).count(1) == 1


def test_a_step_without_an_arrow_is_drawn_dotted_and_labelled_skipped():
    skip = Path(Side.KERNEL, "", ("CLOSED", "ESTABLISHED", "CLOSE_WAIT"))
    svg = diagram([skip]).svg
    assert "tls-skip" in svg and "(skipped)" in svg
    assert sorted(_numbers(svg, 0)) == [1, 2]


def test_sides_are_told_apart_by_dash_not_colour_alone():
    svg = diagram([HANDSHAKE_KERNEL, HANDSHAKE_YOU]).svg
    style = svg.split("<style>", 1)[1].split("@media", 1)[0]
    kernel = re.search(r"\.tls-c0 \{ stroke: (#\w+); stroke-dasharray: ([^;]+);", style)
    you = re.search(r"\.tls-c1 \{ stroke: (#\w+); stroke-dasharray: ([^;]+);", style)
    assert kernel and you
    assert kernel.group(2) != you.group(2)


def test_several_connections_get_their_own_colours_and_legend_lines():
    paths = [
        Path(Side.KERNEL, f":{40000 + i}", ("LISTEN", "SYN_RECEIVED", "ESTABLISHED"))
        for i in range(4)
    ]
    svg = diagram(paths).svg
    text = "".join(_parse(svg).itertext())
    for i in range(4):
        assert f"kernel :{40000 + i}" in text
    light = svg.split("@media", 1)[0]
    colours = set(re.findall(r"\.tls-c\d \{ stroke: (#\w+)", light))
    assert len(colours) == 4


def test_unknown_state_names_are_left_out_not_fatal():
    odd = Path(Side.KERNEL, "", ("LISTEN", "NEW_SYN_RECV?", "ESTABLISHED"))
    ET.fromstring(diagram([odd]).svg)


def test_the_listing_names_every_state_and_fits_80_columns():
    text = listing()
    for state in State:
        assert f"{state.value} (ss: {state.ss})" in text
    assert "→ SYN_RECEIVED" in text
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("count", [1, 2, 3])
def test_step_numbers_cover_no_label_and_no_box(count):
    clear = [box for _, box in _labels()] + [n.rect for n in layout.NODES.values()]
    r = 8.0
    for key, route in layout.ROUTES.items():
        if (count - 1) * 20.0 + 2 * r > layout.length(route.points) - 10:
            continue  # a short arrow to a reset's CLOSED: more numbers than it holds
        spots = layout.number_spots(route, count, clear, r, 20.0)
        assert len(spots) == count
        for x, y in spots:
            circle = layout.Rect(x - r, y - r, 2 * r, 2 * r)
            assert not any(circle.overlaps(box, gap=3) for box in clear), (key, count)


def _run(capsys, *args):
    from tcplab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_the_states_command_prints_the_transitions(capsys):
    code, out, err = _run(capsys, "states")
    assert code == 0 and not err
    assert "LISTEN (ss: LISTEN)" in out and "→ SYN_RECEIVED  rcv SYN / snd SYN,ACK" in out


def test_the_states_command_writes_the_diagram(capsys, tmp_path):
    target = tmp_path / "states.svg"
    code, out, _ = _run(capsys, "states", "--svg", str(target))
    assert code == 0 and str(target) in out
    root = ET.parse(target).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "TIME_WAIT" in "".join(root.itertext())


@pytest.mark.parametrize("where", ["missing/states.svg", "."])
def test_the_states_command_refuses_a_file_it_cannot_write(capsys, tmp_path, where):
    code, out, err = _run(capsys, "states", "--svg", str(tmp_path / where))
    assert code == 2 and not out
    lines = err.splitlines()
    assert lines[0].startswith("error: cannot write --svg") and lines[1].startswith("hint: ")
    assert len(lines) == 2


def _recorded_paths(lab: str, name: str) -> list[Path]:
    from tcplab.engine.ladder import build
    from tcplab.exercise.catalog import get
    from tcplab.exercise.evaluate import evaluate
    from tcplab.exercise.recording import Recording
    from tests.labcases import recorded

    return build(evaluate(get(lab), Recording.load(recorded(lab, name))).report).paths()


def test_the_state_tours_four_connections_are_drawn_on_the_tables_arrows():
    paths = _recorded_paths("state-tour", "reference")
    assert (
        len([p for p in paths if p.side.value == "kernel"]) == 4
    )  # and yours, as the model has them
    svg = diagram(paths, title="state-tour").svg
    ET.fromstring(svg)
    assert "(skipped)" not in svg  # every step the reference takes is an arrow of the table
    for slot, path in enumerate(paths):
        steps = sum(1 for a, b in pairwise(path.states) if a != b)
        assert sorted(_numbers(svg, slot)) == list(range(1, steps + 1))
        assert f"kernel {path.conn}" in "".join(_parse(svg).itertext())
    # the refused connect() leaves SYN_SENT for the top CLOSED, not a reset's stub
    closed = layout.ROUTES[(State.SYN_SENT, State.CLOSED)]
    assert closed.target == "CLOSED"


def test_what_a_path_names_is_escaped():
    odd = Path(Side.KERNEL, ':1<2 & "3"', ("LISTEN", "SYN_RECEIVED"))
    root = _parse(diagram([odd], title="a <b> & c").svg)
    text = "".join(root.itertext())
    assert ':1<2 & "3"' in text and "a <b> & c" in text


def test_different_diagrams_get_different_ids_by_default():
    a = diagram([HANDSHAKE_KERNEL]).svg
    b = diagram([HANDSHAKE_YOU]).svg
    assert a == diagram([HANDSHAKE_KERNEL]).svg  # the same picture, the same text
    assert set(re.findall(r'id="([^"]+)"', a)).isdisjoint(re.findall(r'id="([^"]+)"', b))


def test_a_prefix_that_is_no_css_name_is_refused():
    with pytest.raises(ValueError, match="prefix"):
        diagram([], prefix="a b{")


def test_the_picture_draws_one_grey_arrow_per_change_the_table_makes():
    root = _parse(diagram([]).svg)
    arrows = set()
    for group in root.iter(f"{{{NS['s']}}}g"):
        title = group.find("s:title", NS)
        if title is not None and group.find("s:path", NS) is not None:
            a, b = (title.text or "").split(":", 1)[0].split(" → ")
            arrows.add((State.parse(a), State.parse(b)))
    assert arrows == _table_changes()
    assert len(root.findall(".//s:path[@class='tls-edge']", NS)) == len(arrows)


@pytest.fixture
def zh():
    from tcplab import i18n

    i18n.set_language("zh_CN")
    yield
    i18n.set_language(i18n.ENGLISH)


def test_chinese_labels_fit_their_places_measured_in_columns(zh):
    from tcplab.text import columns

    labels = _labels()
    assert any("收到 SYN" in line for t in transitions() for line in t.lines)
    assert all(columns(line) <= 28 for t in transitions() for line in t.lines)
    for name, box in labels:
        for node in layout.NODES.values():
            assert not box.overlaps(node.rect, gap=2), (name, node.key)
        assert not box.overlaps(layout.LEGEND_BOX), name
        assert box.x >= 0 and box.x + box.w <= layout.WIDTH, name
    for (a, box_a), (b, box_b) in combinations(labels, 2):
        assert not box_a.overlaps(box_b, gap=2), (a, b)


def test_the_chinese_diagram_is_well_formed_with_cjk_fonts(zh):
    svg = diagram([HANDSHAKE_KERNEL, HANDSHAKE_YOU], title="三次握手").svg
    root = _parse(svg)
    assert "Noto Sans CJK SC" in svg and "三次握手" in "".join(root.itertext())
    assert "1, 2, 3 ...：" in svg  # no ambiguous-width ellipsis in Chinese


def test_the_chinese_listing_fits_80_columns_without_ambiguous_arrows(zh):
    from tcplab.text import columns

    text = listing()
    assert "TCP 的 11 个状态" in text and "-> SYN_RECEIVED  收到 SYN / 发送 SYN,ACK" in text
    assert max(columns(line) for line in text.splitlines()) <= 80
    assert "→" not in text and "…" not in text
