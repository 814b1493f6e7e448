"""The state diagram's graph, read from the one TCP table (tcplab.model.table.edges).

Every case of the table that moves a connection from one RFC 9293 state to another is an arrow;
the arrows between the same two states are one `Transition`, labelled in the RFC's style: what
happens ("rcv SYN", "close()", "timeout 60 s") and what is sent ("/ snd SYN,ACK"). The table's
inputs are grouped per arrow by what is sent: one line per group. Places that share a state (a
request sock and a full SYN_RECEIVED, an orphan FIN_WAIT_2 and a full one) share its arrows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tcplab import i18n
from tcplab.i18n import N_, _
from tcplab.model.endpoint import TIME_WAIT_LEN
from tcplab.model.flags import Flags
from tcplab.model.state import State
from tcplab.model.table import Edge, Guard, Input, edges
from tcplab.text import columns

WRAP = 28  # a label's line is at most this many columns (events wrap onto the next line)

_SYN_INPUTS = frozenset({Input.SYN_NEW, Input.SYN_REPEAT, Input.SYN_OLD, Input.SYN_FIN})
_SYN_ACK_INPUTS = frozenset({Input.SYN_ACK_GOOD, Input.SYN_ACK_BAD})
_ACK_INPUTS = frozenset({Input.ACK_PURE, Input.ACK_OF_FIN, Input.ACK_DATA, Input.ACK_DATA_AHEAD})
_CALLS = {
    Input.APP_LISTEN: "listen()",
    Input.APP_CONNECT: "connect()",
    Input.APP_CLOSE: "close()",
    Input.APP_SHUTDOWN: "shutdown()",
    Input.TIMER_GIVE_UP: N_("retries out"),
}


@dataclass(frozen=True)
class Transition:
    """One arrow of the diagram: every table edge from `source` to `target`, and its label."""

    source: State
    target: State
    lines: tuple[str, ...]  # "rcv SYN / snd SYN,ACK", one line per group of what is sent
    edges: tuple[Edge, ...]

    @property
    def label(self) -> str:
        return "; ".join(self.lines)


def event(edge: Edge) -> str:
    """What makes the table take this edge, as the RFC's diagram writes it."""
    inp, source = edge.input, edge.source
    if edge.guard is Guard.ACCEPT_QUEUE_ABORT:
        return _("accept queue full")
    if edge.guard is Guard.UNREAD_DATA or inp is Input.APP_ABORT:
        return _("abort")
    if inp.is_rst:
        return _("rcv RST")
    if inp in _SYN_INPUTS:
        return _("rcv new SYN") if source is State.TIME_WAIT else _("rcv SYN")
    if inp in _SYN_ACK_INPUTS:
        return _("rcv SYN,ACK")
    if inp is Input.ACK_COOKIE:
        return _("rcv ACK of cookie")
    if source is State.SYN_RECEIVED and inp in _ACK_INPUTS:
        return _("rcv ACK of SYN")
    if inp is Input.ACK_OF_FIN:
        return _("rcv ACK of FIN")
    if inp in (Input.ACK_DATA, Input.ACK_DATA_AHEAD):
        return _("rcv data")
    if inp is Input.ACK_FIN_OF_FIN and source is State.FIN_WAIT_1:
        return _("rcv FIN,ACK of FIN")
    if inp in (Input.ACK_FIN, Input.ACK_FIN_OF_FIN):
        return _("rcv FIN")
    if inp is Input.TIMER_EXPIRE:
        if source is State.TIME_WAIT:
            return _("timeout {seconds} s").format(seconds=f"{TIME_WAIT_LEN:g}")
        return "fin_timeout"
    call = _CALLS.get(inp)
    return _(call) if call else str(inp)


def sent(flags: Flags | None) -> str:
    """What is sent on an edge, by its main flag ("" for nothing)."""
    if flags is None:
        return ""
    if Flags.RST in flags:
        return "RST"
    if Flags.SYN in flags:
        return "SYN,ACK" if Flags.ACK in flags else "SYN"
    return "FIN" if Flags.FIN in flags else "ACK"


def _wrap(parts: list[str], tail: str) -> list[str]:
    """Events joined by ", " in lines of at most WRAP characters; `tail` ("/ snd X") on the last."""
    lines = [""]
    for part in parts:
        joined = f"{lines[-1]}, {part}" if lines[-1] else part
        if columns(joined) > WRAP and lines[-1]:
            lines[-1] += ","
            lines.append(part)
        else:
            lines[-1] = joined
    if tail:
        if columns(lines[-1]) + 1 + columns(tail) <= WRAP:
            lines[-1] += " " + tail
        else:
            lines.append(tail)
    return lines


def _lines(group: list[Edge]) -> tuple[str, ...]:
    by_sent: dict[str, list[str]] = {}
    seen: set[str] = set()
    for edge in sorted(group, key=lambda e: sent(e.sends) != ""):  # silent ones first
        what = event(edge)
        if what not in seen:
            seen.add(what)
            by_sent.setdefault(sent(edge.sends), []).append(what)
    out: list[str] = []
    for what_is_sent, events in by_sent.items():
        tail = _("/ snd {flags}").format(flags=what_is_sent) if what_is_sent else ""
        out += _wrap(events, tail)
    return tuple(out)


def transitions() -> tuple[Transition, ...]:
    """The diagram's arrows: every change of RFC state the table makes, one per pair of states."""
    return _transitions(i18n.language())


@functools.lru_cache(maxsize=8)
def _transitions(lang: str) -> tuple[Transition, ...]:
    """Made once per language (the table never changes; its labels are translated): a class's
    reports drew the same arrows for every student, ~50 ms each."""
    grouped: dict[tuple[State, State], list[Edge]] = {}
    for edge in edges():
        if edge.source is not edge.target:
            grouped.setdefault((edge.source, edge.target), []).append(edge)
    return tuple(Transition(s, t, _lines(g), tuple(g)) for (s, t), g in grouped.items())
