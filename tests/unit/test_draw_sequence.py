"""The ladder as an SVG sequence diagram (tcplab/draw/sequence.py) and the exchange's picture
(tcplab/draw/exchange.py): well-formed for every recorded lab run, the segments in order, the
labels there, hostile text harmless, huge ladders bounded."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tcplab.draw import exchange, sequence
from tcplab.draw.svg import esc, inline, num, wrap
from tcplab.engine.ladder import Arrow, Change, Conn, Ladder, Lane, Step, Way
from tcplab.engine.report import How, Side
from tests import drawcases

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "a<b & c]]> \x1b[31m\x00\x07 \"q\" 'p' \u202e <script>alert(1)</script>"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if cls in (g.get("class") or "").split()]


def title(el: ET.Element) -> str:
    found = el.find(f"{NS}title")
    assert found is not None
    return found.text or ""


def texts(el: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in el.iter(f"{NS}text")]


def lane(role: str) -> Lane:
    return Lane(role, "ns1" if role == "you" else "ns2", "10.77.0.1")


def arrow(way: Way, flags: str, *fields: str, **kw: object) -> Arrow:
    return Arrow(way, flags, fields, **kw)  # type: ignore[arg-type]


def handshake() -> Ladder:
    changes = (Change(Side.KERNEL, "LISTEN", "SYN_RECEIVED", How.OBSERVED),)
    steps = (
        Step(0.0, arrow=arrow(Way.TO_KERNEL, "S", "seq +0", "win 8192")),
        Step(0.001, arrow=arrow(Way.TO_YOU, "S.", "seq +0", "ack +1"), changes=changes),
        Step(0.002, arrow=arrow(Way.TO_KERNEL, ".", "seq +1", "ack +1")),
    )
    start = (Change(Side.KERNEL, "LISTEN", "LISTEN", How.OBSERVED),)
    return Ladder(lane("you"), lane("kernel"), (Conn(40000, 7788, ":40000"),), steps, start)


@pytest.mark.parametrize(("lab", "name"), drawcases.recordings())
def test_every_recorded_run_draws_well_formed_with_its_segments_in_order(lab, name):
    ladder = drawcases.ladder(lab, name)
    root = parse(sequence.diagram(ladder).svg)
    segs = groups(root, "tl-seg")
    arrows = [s for s in ladder.steps if s.arrow is not None]
    assert len(segs) == len(arrows)
    for g, step in zip(segs, arrows, strict=True):
        assert step.arrow is not None
        assert step.arrow.text in title(g)
        first = texts(g)[0]
        assert first.startswith(step.arrow.flags or "(none)")
        if ladder.several:
            assert f"[{step.conn}]" in title(g)
    ids = [el.get("id") for el in root.iter() if el.get("id")]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("lab", "name"), drawcases.recordings())
def test_every_recorded_run_makes_one_standalone_picture(lab, name):
    svg = exchange.document(drawcases.ladder(lab, name))
    root = parse(svg)
    assert root.tag == f"{NS}svg" and root.get("viewBox")
    assert float(root.get("width") or 0) > 0 and float(root.get("height") or 0) > 0
    assert "http" not in inline(svg)


def test_a_handshake_names_both_sides_their_states_and_the_cause():
    ladder = handshake()
    root = parse(sequence.diagram(ladder).svg)
    words = texts(root)
    assert "you (ns1)" in words and "kernel (ns2)" in words
    assert words.index("LISTEN") < words.index("SYN_RECEIVED")
    segs = [texts(g)[0] for g in groups(root, "tl-seg")]
    assert segs == ["S seq +0 win 8192", "S. seq +0 ack +1", ". seq +1 ack +1"]
    flags = [t for t in root.iter(f"{NS}tspan") if "tl-flags" in (t.get("class") or "")]
    assert [t.text for t in flags] == ["S", "S.", "."]


def test_state_changes_are_boxes_on_their_side_model_dashed():
    seen = Change(Side.KERNEL, "ESTABLISHED", "FIN_WAIT_1", How.OBSERVED)
    model = Change(Side.CRAFTING, "ESTABLISHED", "FIN_WAIT_1", How.MODEL)
    ladder = Ladder(lane("you"), lane("kernel"), (), (Step(0.1, changes=(seen, model)),))
    root = parse(sequence.diagram(ladder).svg)
    boxes = {title(g): g.find(f"{NS}rect") for g in groups(root, "tl-state")}
    kernel = next(r for t, r in boxes.items() if t.startswith("kernel"))
    you = next(r for t, r in boxes.items() if t.startswith("you"))
    assert kernel is not None and you is not None
    assert "tl-model" not in (kernel.get("class") or "")
    assert "tl-model" in (you.get("class") or "")
    assert (
        float(you.get("x") or 0) < sequence.YOU_X < sequence.KERNEL_X < float(kernel.get("x") or 0)
    )


def test_a_kernel_segment_shows_its_cause_and_marks_in_words():
    a = arrow(Way.TO_YOU, "F.", "seq +1", cause="app close() at +0.058 s", marks=("bad checksum",),
              agrees=False)  # fmt: skip
    ladder = Ladder(lane("you"), lane("kernel"), (), (Step(0.0, arrow=a),))
    root = parse(sequence.diagram(ladder).svg)
    words = texts(root)
    assert "↳ app close() at +0.058 s" in words
    mark = next(w for w in words if w.startswith("⚠ bad checksum"))
    assert "not what the model predicted" in mark


def test_several_connections_label_every_segment_in_the_margin():
    steps = (
        Step(0.0, ":40000", arrow(Way.TO_KERNEL, "S", "seq +0")),
        Step(0.1, ":40001", arrow(Way.TO_KERNEL, "S", "seq +0")),
    )
    conns = (Conn(40000, 7788, ":40000"), Conn(40001, 7788, ":40001"))
    root = parse(sequence.diagram(Ladder(lane("you"), lane("kernel"), conns, steps)).svg)
    labels = [t for t in texts(root) if t.startswith(":4000")]
    assert labels == [":40000", ":40001"]


def test_hostile_text_stays_well_formed_and_inert():
    bad = arrow(Way.TO_YOU, HOSTILE, HOSTILE, cause=HOSTILE, marks=(HOSTILE,))
    steps = (
        Step(None, text=HOSTILE),
        Step(None, text=HOSTILE, ok=False),
        Step(0.0, HOSTILE, bad, (Change(Side.KERNEL, HOSTILE, HOSTILE, How.MODEL, HOSTILE),)),
    )
    conns = (Conn(1, 2, HOSTILE), Conn(3, 4, "x"))
    weird = Lane(HOSTILE, HOSTILE, HOSTILE)
    ladder = Ladder(weird, weird, conns, steps)
    for svg in (sequence.diagram(ladder).svg, exchange.document(ladder)):
        root = parse(svg)
        assert not [el for el in root.iter() if el.tag.endswith("script")]
        assert "\x1b" not in svg and "\x00" not in svg and "]]>" not in svg
        assert any("a<b & c" in t for t in texts(root))


def test_a_huge_ladder_draws_its_first_and_last_segments_and_says_what_was_left_out():
    steps = tuple(
        Step(
            i * 0.001, arrow=arrow(Way.TO_KERNEL, "P.", f"seq +{i}", *[f"f{j}" for j in range(60)])
        )
        for i in range(2000)
    )
    drawing = sequence.diagram(Ladder(lane("you"), lane("kernel"), (), steps))
    root = parse(drawing.svg)
    segs = groups(root, "tl-seg")
    assert len(segs) == sequence.HEAD_ARROWS + sequence.TAIL_ARROWS
    assert "seq +109 " in title(segs[sequence.HEAD_ARROWS - 1])
    assert "seq +1950 " in title(segs[sequence.HEAD_ARROWS])
    assert any("1840 segments not drawn here" in t for t in texts(root))
    for g in segs:
        assert len(texts(g)) <= sequence.SEG_LINES
    assert len(drawing.svg) < 150_000


def test_a_capped_reports_250_segments_of_many_connections_stay_small():
    conns = tuple(Conn(40000 + i, 7788, f":{40000 + i}") for i in range(125))
    steps = []
    for i, c in enumerate(conns):
        steps.append(Step(i * 0.01, c.label, arrow(Way.TO_KERNEL, "S", "seq +0", "win 8192")))
        steps.append(Step(i * 0.01, c.label, arrow(Way.TO_YOU, "S.", "seq +0", "ack +1",
                     "win 64240", "<mss 1460>", cause=f"your segment {i} (S) from port {c.label}"),
                     (Change(Side.KERNEL, "LISTEN", "SYN_RECEIVED", How.OBSERVED),)))  # fmt: skip
    ladder = Ladder(lane("you"), lane("kernel"), conns, tuple(steps))
    assert len(sequence.diagram(ladder).svg) < 100_000
    assert len(exchange.document(ladder)) < 140_000


def test_a_ladder_of_notes_only_is_capped_in_steps():
    steps = tuple(Step(None, text=f"note {i}") for i in range(5000))
    root = parse(sequence.diagram(Ladder(lane("you"), lane("kernel"), (), steps)).svg)
    notes = groups(root, "tl-text")
    assert len(notes) == sequence.MAX_STEPS
    assert "4401 more steps not drawn" in title(notes[-1])


def test_an_empty_ladder_says_so():
    root = parse(sequence.diagram(Ladder(lane("you"), lane("kernel"), (), ())).svg)
    assert "no segments were observed" in texts(root)


def test_wrap_never_breaks_a_field_and_caps_lines():
    lines = wrap(["S", "seq +1", "ack +100001", "<mss 1460,sackOK>"], 12, 2)
    assert lines == ["S seq +1", "ack +100001…"]
    assert wrap(["x" * 30], 10, 3) == ["xxxxxxxxx…"]


def test_esc_leaves_nothing_xml_would_read():
    assert esc("<a & 'b' \"c\"]]>\x00") == "&lt;a &amp; &#39;b&#39; &quot;c&quot;]]&gt;"


def test_connections_that_took_the_same_states_are_one_path_in_the_state_diagram():
    from tcplab.engine.ladder import Path

    same = ("LISTEN", "SYN_RECEIVED", "CLOSED")
    paths = [Path(Side.KERNEL, f":{p}", same) for p in range(40000, 40040)]
    paths.insert(1, Path(Side.KERNEL, ":1", ("LISTEN", "SYN_RECEIVED", "ESTABLISHED")))
    paths.append(Path(Side.CRAFTING, "", same))
    paths += [Path(Side.KERNEL, f":{p}", ("CLOSED",) * p) for p in range(2, 20)]
    got = exchange.distinct(paths)
    assert got[:3] == [
        Path(Side.KERNEL, ":40000 +39 like it", same),
        Path(Side.KERNEL, ":1", ("LISTEN", "SYN_RECEIVED", "ESTABLISHED")),
        Path(Side.CRAFTING, "", same),
    ]
    assert len(got) == exchange.MAX_PATHS
    # the picture says how many ways it could not highlight
    from tcplab.engine.ladder import Ladder, Lane, Step

    class Many(Ladder):
        def paths(self) -> list[Path]:
            return paths

    ladder = Many(Lane("you", "", ""), Lane("kernel", "", ""), (), (Step(None, text="x"),))
    left = len({(p.side, p.states) for p in paths}) - exchange.MAX_PATHS
    assert f"({left} more not drawn)" in exchange.states_drawing(ladder).svg


def test_the_exchange_puts_the_state_diagram_below_with_each_sides_path_numbered():
    svg = exchange.document(drawcases.ladder("handshake", "reference"))
    assert svg.count("<svg") == 1  # one <svg> per picture: the two drawings are groups in it
    root = parse(svg)
    seq, states = (g for g in root.iter(f"{NS}g") if g.get("role") == "img")
    assert states.get("aria-label") == "the states each side took"
    assert "tl-svg" in (seq.get("class") or "") and (states.get("id") or "").startswith("tls")
    below = sequence.diagram(drawcases.ladder("handshake", "reference")).height + exchange.GAP
    assert states.get("transform") == f"translate(0 {num(below)})"
    numbers = [
        "".join(t.itertext())
        for t in states.iter(f"{NS}text")
        if "tls-numtext" in (t.get("class") or "")
    ]
    # each side's path: yours CLOSED → SYN_SENT → ESTABLISHED, the kernel's LISTEN →
    # SYN_RECEIVED → ESTABLISHED
    assert numbers == ["1", "2", "1", "2"]
    assert any("tls-hl" in (el.get("class") or "") for el in states.iter())


# ---- in Chinese: CJK fonts, text measured in columns (a CJK character is two) ---------------


@pytest.fixture
def zh():
    from tcplab import i18n

    i18n.set_language("zh_CN")
    yield
    i18n.set_language(i18n.ENGLISH)


def test_wrap_counts_cjk_columns_and_breaks_between_characters():
    from tcplab.text import columns

    words = ["你的", "ACK", "确认的是内核的初始序列号加零，而内核期望的是加一：少了一。" * 2]
    lines = wrap(words, 40, 3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert all(columns(line) <= 40 for line in lines)
    assert lines[0].startswith("你的 ACK 确认")  # spaces between words kept, none added inside
    # English text is wrapped exactly as before (by words, clipped)
    assert wrap(["seq", "+1", "ack", "+1"], 8, 2) == ["seq +1", "ack +1"]


def test_a_chinese_sequence_diagram_is_well_formed_names_cjk_fonts_and_fits(zh):
    from tcplab.draw.sequence import NOTE_CHARS, SMALL_W, small_width
    from tcplab.text import columns

    note = "你的 ACK 确认的是内核 ISN+0，内核期望 ISN+1：少了一，因为 SYN 占用一个序列号。" * 3
    ladder = handshake()
    steps = (*ladder.steps, Step(0.003, text=note, ok=False))
    ladder = Ladder(ladder.you, ladder.kernel, ladder.conns, steps, ladder.start)
    svg = sequence.diagram(ladder).svg
    root = parse(svg)
    style = "".join(s.text or "" for s in root.iter(f"{NS}style"))
    assert "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', 'PingFang SC'" in style
    words = texts(root)
    assert "你 → 内核" in words and "内核 → 你" in words and "时间" in words
    note_lines = [t for g in groups(root, "tl-text") for t in texts(g)]
    assert len(note_lines) > 1 and all(columns(t) <= NOTE_CHARS for t in note_lines)
    # the legend's labels do not run into the next item, measured by columns
    legend = next(g for g in root.iter(f"{NS}g") if g.get("class") == "tl-legend")
    items = [(float(t.get("x", 0)), "".join(t.itertext())) for t in legend.iter(f"{NS}text")]
    starts = [float(e.get("x", e.get("x1", 0))) for e in legend if e.tag != f"{NS}text"]
    assert len(items) == 5 and len(starts) == 4
    for (x, label), nxt in zip(items, [*starts[1:], items[-1][0], float("inf")], strict=True):
        assert x + small_width(label) < nxt, label
    assert SMALL_W > 5


def test_the_chinese_exchange_picture_is_standalone_xml(zh):
    root = parse(exchange.document(handshake(), "tls-zh"))
    text = " ".join(root.itertext())
    assert "双方经过的状态" in text and "收到 SYN" in text and "发送 SYN,ACK" in text
    assert inline(exchange.document(handshake(), "tls-zh")).count("<svg") == 1


def test_english_pictures_name_no_cjk_font():
    assert "CJK" not in sequence.diagram(handshake()).svg
    assert "CJK" not in exchange.document(handshake(), "tls-en")
