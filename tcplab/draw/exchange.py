"""The picture of one exchange: the sequence diagram and, beside it, the state diagram with the
path each side took highlighted. One standalone SVG: what `--svg FILE` writes and what the
reports put inline."""

from __future__ import annotations

import importlib
from typing import Any

from tcplab.draw import sequence
from tcplab.draw.svg import Drawing, esc, place, plain, root
from tcplab.engine.ladder import Ladder, Path

GAP = 24  # between the two pictures
BESIDE_MAX = 1600  # wider than this together: the state diagram goes below


def states_drawing(ladder: Ladder, prefix: str = "tls") -> Drawing | None:
    """The state diagram with this exchange's paths (tcplab.draw.states), when it is there;
    `prefix` makes its ids unique in a page that shows several."""
    try:
        states: Any = importlib.import_module("tcplab.draw.states")
    except ImportError:
        return None
    paths = [_plain(p) for p in ladder.paths()]
    drawn = states.diagram(paths, title="the states each side took", prefix=prefix)
    return Drawing(str(drawn.svg), float(drawn.width), float(drawn.height))


def _plain(path: Path) -> Path:
    """A path whose names hold nothing XML forbids (they come from the model and port numbers;
    this holds whatever a Ladder is made of)."""
    return Path(path.side, plain(path.conn), tuple(plain(s) for s in path.states))


def compose(first: Drawing, second: Drawing | None, label: str) -> str:
    """Two pictures side by side (or one below the other when too wide) in one <svg>."""
    if second is None:
        return first.svg
    if first.width + GAP + second.width <= BESIDE_MAX:
        width = first.width + GAP + second.width
        height = max(first.height, second.height)
        at = (first.width + GAP, 0.0)
    else:
        width = max(first.width, second.width)
        height = first.height + GAP + second.height
        at = (0.0, first.height + GAP)
    body = place(first, 0, 0) + place(second, *at)
    return root(f'<g aria-label="{esc(label)}">{body}</g>', width, height, label)


def document(ladder: Ladder, prefix: str = "tls") -> str:
    """One standalone SVG of the exchange: sequence diagram, then the state diagram (its ids
    start with `prefix`: give each picture of one HTML page its own)."""
    label = sequence.title(ladder)
    return compose(sequence.diagram(ladder), states_drawing(ladder, prefix), label)
