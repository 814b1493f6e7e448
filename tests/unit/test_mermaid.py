"""The ladder as Mermaid text (tcplab/draw/mermaid.py): participants, arrows in order, state
notes, connection labels, every character Mermaid would act on written as its code, capped."""

from __future__ import annotations

import re

import pytest

from tcplab.draw import mermaid
from tcplab.engine.ladder import Arrow, Change, Conn, Ladder, Lane, Step, Way
from tcplab.engine.report import How, Side
from tests import drawcases

HOSTILE = 'a;b #1; %%x <b>&amp; {c} `d` \\e "q"\n\x1b[31m end'
_LINE = re.compile(
    r"(sequenceDiagram"
    r"|    participant (you|kernel) as [^;#%<>&\"{}`\\\n]+"
    r"|    (you->>kernel|kernel-->>you): [^;#%<>&\"{}`\\\n]+"
    r"|    Note over (you|kernel|you,kernel): [^;#%<>&\"{}`\\\n]+)"
)
_CODE = re.compile(r"#(\d+|[a-z]+);")


def check_lines(text: str) -> list[str]:
    """Every line is one Mermaid statement; a '#', ';' or '&' only as part of a code."""
    lines = text.rstrip("\n").split("\n")
    for line in lines:
        assert _LINE.fullmatch(_CODE.sub("", line)), line
    return lines


def lane(role: str) -> Lane:
    return Lane(role, "", "10.77.0.1")


@pytest.mark.parametrize(("lab", "name"), drawcases.recordings())
def test_every_recorded_run_gives_mermaid_with_its_segments_in_order(lab, name):
    ladder = drawcases.ladder(lab, name)
    lines = check_lines(mermaid.sequence(ladder))
    arrows = [line for line in lines if "->>" in line]
    expected = [s for s in ladder.steps if s.arrow is not None]
    assert len(arrows) == len(expected)
    for line, step in zip(arrows, expected, strict=True):
        assert step.arrow is not None
        assert line.split(": ", 1)[1].startswith(
            (f"[{step.conn}] " if ladder.several else "") + mermaid.escape(step.arrow.text)[:20]
        )
        assert ("you->>kernel" in line) == (step.arrow.way is Way.TO_KERNEL)


def test_a_state_change_is_a_note_over_its_side():
    steps = (
        Step(0.0, arrow=Arrow(Way.TO_KERNEL, "S", ("seq +0",))),
        Step(0.1, arrow=Arrow(Way.TO_YOU, "S.", ("seq +0", "ack +1", "<mss 1460>")), changes=(
            Change(Side.KERNEL, "LISTEN", "SYN_RECEIVED", How.OBSERVED),
            Change(Side.CRAFTING, "SYN_SENT", "ESTABLISHED", How.MODEL),
        )),
    )  # fmt: skip
    start = (Change(Side.KERNEL, "LISTEN", "LISTEN", How.OBSERVED),)
    text = mermaid.sequence(Ladder(lane("you"), lane("kernel"), (), steps, start))
    assert text.splitlines()[1:] == [
        "    participant you as you 10.77.0.1",
        "    participant kernel as kernel 10.77.0.1",
        "    Note over kernel: LISTEN",
        "    you->>kernel: S seq +0",
        "    kernel-->>you: S. seq +0 ack +1 #lt;mss 1460#gt;",
        "    Note over kernel: LISTEN → SYN_RECEIVED",
        "    Note over you: SYN_SENT → ESTABLISHED (model)",
    ]


def test_several_connections_name_theirs_on_every_line():
    conns = (Conn(1, 9, ":1"), Conn(2, 9, ":2"))
    steps = (
        Step(0.0, ":1", Arrow(Way.TO_KERNEL, "S", ("seq +0",))),
        Step(0.1, ":2", Arrow(Way.TO_YOU, "R.", ("seq 0",), cause="timer: keepalive")),
        Step(0.2, ":2", changes=(Change(Side.KERNEL, "LISTEN", "CLOSED", How.OBSERVED),)),
    )
    lines = mermaid.sequence(Ladder(lane("you"), lane("kernel"), conns, steps)).splitlines()
    assert lines[3:] == [
        "    you->>kernel: [:1] S seq +0",
        "    kernel-->>you: [:2] R. seq 0 (timer: keepalive)",
        "    Note over kernel: [:2] LISTEN → CLOSED",
    ]


def test_hostile_text_is_written_as_codes_on_one_line():
    steps = (
        Step(None, text=HOSTILE, ok=False),
        Step(0.0, HOSTILE, Arrow(Way.TO_YOU, HOSTILE, (HOSTILE,), (HOSTILE,), HOSTILE, False)),
    )
    weird = Lane(HOSTILE, HOSTILE, HOSTILE)
    text = mermaid.sequence(Ladder(weird, weird, (Conn(1, 2, HOSTILE), Conn(3, 4, "x")), steps))
    check_lines(text)
    assert "a#59;b #35;1#59; #37;#37;x #lt;b#gt;#amp;amp#59;" in text
    assert "\x1b" not in text


def test_a_huge_ladder_is_cut_with_a_note():
    one = Arrow(Way.TO_KERNEL, "P.", tuple(f"f{i}" for i in range(40)))
    steps = tuple(Step(i * 0.01, arrow=one) for i in range(3000))
    text = mermaid.sequence(Ladder(lane("you"), lane("kernel"), (), steps))
    check_lines(text)
    assert len(text) <= mermaid.MAX_CHARS + 200
    assert text.rstrip().endswith("more steps not shown")


def test_an_empty_ladder_says_so():
    text = mermaid.sequence(Ladder(lane("you"), lane("kernel"), (), ()))
    assert "Note over you,kernel: no segments were observed" in text
