"""The picture of one exchange: the sequence diagram and, beside it, the state diagram with the
path each side took highlighted. One standalone SVG: what `--svg FILE` writes and what the
reports put inline."""

from __future__ import annotations

from tcplab.draw import sequence, states
from tcplab.draw.svg import Drawing, esc, place, plain, root
from tcplab.engine.ladder import Ladder, Path
from tcplab.i18n import _

GAP = 24  # between the two pictures
BESIDE_MAX = 1600  # wider than this together: the state diagram goes below


def states_drawing(ladder: Ladder, prefix: str = "") -> Drawing:
    """The state diagram with this exchange's paths highlighted (tcplab.draw.states); `prefix`
    makes its ids unique in a page that shows several ("": one made from the paths)."""
    every = [_plain(p) for p in ladder.paths()]
    paths = distinct(every)
    title = _("the states each side took")
    left = len({(p.side, p.states) for p in every}) - len(paths)
    if left > 0:  # more ways than can be highlighted: say so, never leave them out unsaid
        title += _(" ({n} more not drawn)").format(n=left)
    return states.diagram(paths, title=title, prefix=prefix)


def _plain(path: Path) -> Path:
    """A path whose names hold nothing XML forbids (they come from the model and port numbers;
    this holds whatever a Ladder is made of)."""
    return Path(path.side, plain(path.conn), tuple(plain(s) for s in path.states))


MAX_PATHS = 8  # highlighted at once: more would hide each other (a SYN flood has hundreds)


def distinct(paths: list[Path]) -> list[Path]:
    """Each way a side went once: connections that took the same states are one path, named
    by the first of them ("+3 like it"); at most MAX_PATHS, in the order first taken."""
    groups: dict[tuple[object, tuple[str, ...]], list[Path]] = {}
    for path in paths:
        groups.setdefault((path.side, path.states), []).append(path)
    out = []
    for same in list(groups.values())[:MAX_PATHS]:
        first = same[0]
        more = _(" +{n} like it").format(n=len(same) - 1) if len(same) > 1 else ""
        out.append(Path(first.side, first.conn + more if first.conn else first.conn, first.states))
    return out


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


def document(ladder: Ladder, prefix: str = "") -> str:
    """One standalone SVG of the exchange: sequence diagram, then the state diagram (its ids
    start with `prefix`: give each picture of one HTML page its own)."""
    label = sequence.title(ladder)
    return compose(sequence.diagram(ladder), states_drawing(ladder, prefix), label)
