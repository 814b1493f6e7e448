"""The ladder as Mermaid `sequenceDiagram` text, for Markdown reports (GitHub draws it).

Participants `you` and `kernel`; your segments are solid arrows (->>), the kernel's dashed (-->>);
a state change is a note over its side ("LISTEN → SYN_RECEIVED"); a note or a scenario step is a
note over both. With several connections each message starts with its connection's label.

Mermaid reads `;` as the end of a statement, `#…;` as a character code and `%%` as a comment,
and renders `<…>` as HTML: every text is written with those characters as Mermaid's own codes
(`#59;`, `#35;`, `#lt;` …), one line, capped. A huge ladder is cut (GitHub refuses diagrams past
50 000 characters), with a note of how many steps were left out.
"""

from __future__ import annotations

import re

from tcplab import text as untrusted
from tcplab.draw.sequence import NOT_PREDICTED
from tcplab.engine.ladder import Arrow, Change, Ladder, Lane, Step, Way
from tcplab.engine.report import How, Side
from tcplab.i18n import _

MAX_STEPS = 400
MAX_CHARS = 40_000
TEXT_CHARS = 160

_CODES = {
    "#": "#35;",
    ";": "#59;",
    "%": "#37;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    '"': "#quot;",
    "{": "#123;",
    "}": "#125;",
    "\\": "#92;",
    "`": "#96;",
}
_SPECIAL = re.compile("[" + re.escape("".join(_CODES)) + "]")


def escape(text: object, limit: int = TEXT_CHARS) -> str:
    """One line of text Mermaid shows as it is."""
    flat = untrusted.line(str(text), limit)
    return _SPECIAL.sub(lambda m: _CODES[m.group(0)], flat) or " "


def _who(side: Side) -> str:
    return "you" if side is Side.CRAFTING else "kernel"


def _participant(name: str, lane: Lane) -> str:
    words = f"{lane.title} {lane.address}".strip()
    return f"    participant {name} as {escape(words, 60)}"


def _message(step: Step, arrow: Arrow, several: bool) -> str:
    text = arrow.text
    if several and step.conn:
        text = f"[{step.conn}] {text}"
    if arrow.cause and not arrow.by_you:
        text += f" ({arrow.cause})"
    wrong = list(arrow.marks) + ([_(NOT_PREDICTED)] if arrow.agrees is False else [])
    if wrong:
        text += " ⚠ " + "; ".join(wrong)
    line = "you->>kernel" if arrow.way is Way.TO_KERNEL else "kernel-->>you"
    return f"    {line}: {escape(text)}"


def _change(change: Change, conn: str) -> str:
    words = change.text + (_(" (model)") if change.how is How.MODEL else "")
    if conn:
        words = f"[{conn}] {words}"
    return f"    Note over {_who(change.side)}: {escape(words)}"


def _step(step: Step, several: bool) -> list[str]:
    out: list[str] = []
    conn = step.conn if several else ""
    if step.arrow is not None:
        out.append(_message(step, step.arrow, several))
    elif step.text or step.ok is not None:
        mark = {True: "✓ ", False: "✗ ", None: ""}[step.ok]
        out.append(f"    Note over you,kernel: {escape(mark + step.text)}")
    out += [_change(c, conn) for c in step.changes]
    return out


def sequence(ladder: Ladder) -> str:
    """The ladder as a Mermaid sequenceDiagram (without the ``` fence)."""
    lines = [
        "sequenceDiagram",
        _participant("you", ladder.you),
        _participant("kernel", ladder.kernel),
    ]
    lines += [f"    Note over {_who(c.side)}: {escape(c.after)}" for c in ladder.start]
    size = sum(len(line) + 1 for line in lines)
    for done, step in enumerate(ladder.steps):
        more = _step(step, ladder.several)
        cost = sum(len(line) + 1 for line in more)
        if done >= MAX_STEPS or size + cost > MAX_CHARS:
            left = len(ladder.steps) - done
            note = _("… {n} more steps not shown").format(n=left)
            lines.append(f"    Note over you,kernel: {escape(note)}")
            break
        lines += more
        size += cost
    if not ladder.steps:
        nothing = _("no segments were observed")
        lines.append(f"    Note over you,kernel: {escape(nothing)}")
    return "\n".join(lines) + "\n"
