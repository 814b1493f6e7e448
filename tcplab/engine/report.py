"""What an exchange showed: the ladder (segments and state transitions, in order) and the checks.

Pure data: a driver (the handshake, a probe, the scenario runner, the lab checker) pushes what it saw
into a Report (segments with add_segments, state changes, notes, a step's expected vs observed); the
report never reads a session. Each kind of ladder row is its own class, and says itself how it is
written as JSON; the CLI draws each class.

A ladder shows at most SHOWN_FIRST + SHOWN_LAST segments (a SYN flood sends thousands): the first
ones, a note saying how many are left out, and the last ones; the pcap keeps every segment.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, ClassVar

from tcplab.engine.check import Check
from tcplab.engine.predicted import Predicted
from tcplab.engine.seen import Seen
from tcplab.i18n import N_, _, ngettext
from tcplab.model.flags import Flags
from tcplab.model.seqnum import signed
from tcplab.model.state import State


class Side(str, Enum):
    """Which host a state change is about."""

    CRAFTING = "crafting"
    KERNEL = "kernel"


class How(str, Enum):
    """How a state is known: tcplab's own side from the model, the kernel's from its socket table."""

    MODEL = "model"
    OBSERVED = "observed"


@dataclass(frozen=True)
class SegmentRow:
    """A segment the capture saw."""

    seen: Seen
    kind: ClassVar[str] = "segment"

    def to_json(self, report: Report) -> dict[str, Any]:
        out = {"kind": self.kind, **report.segment_json(self.seen)}
        predicted = report.predictions.get(id(self.seen))
        if predicted is not None:
            out["prediction"] = predicted.to_json()
        return out


@dataclass(frozen=True)
class StateRow:
    """A host's state before and after something (None: no socket)."""

    side: Side
    before: State | None
    after: State | None
    how: How
    note: str = ""
    time: float | None = None  # when it was observed (the capture's clock); None: where it stands
    conn: tuple[int, int] | None = None  # its connection (crafting port, kernel port), if known
    kind: ClassVar[str] = "state"

    def to_json(self, report: Report) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "side": self.side.value,
            "how": self.how.value,
            "note": self.note,
            "from": self.before.value if self.before else "no socket",
            "to": self.after.value if self.after else "no socket",
            "time": report.rel_time(self.time),
            "conn": list(self.conn) if self.conn else None,
        }


@dataclass(frozen=True)
class NoteRow:
    """A line of text between the segments."""

    text: str
    kind: ClassVar[str] = "note"

    def to_json(self, report: Report) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text}


@dataclass(frozen=True)
class ExpectRow:
    """A scenario step: what it expected and what was observed."""

    step: str
    expected: str
    observed: str
    ok: bool
    kind: ClassVar[str] = "expect"

    def to_json(self, report: Report) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "step": self.step,
            "expected": self.expected,
            "observed": self.observed,
            "ok": self.ok,
        }


Row = SegmentRow | StateRow | NoteRow | ExpectRow

SHOWN_FIRST = 200  # segments a ladder shows from its start ...
SHOWN_LAST = 50  # ... and from its end; those between are counted in one note
THE_PCAP = N_("the pcap")  # where every segment is: a file's name is shown as it is


def cap_rows(
    rows: list[Row], first: int = SHOWN_FIRST, last: int = SHOWN_LAST, where: str = THE_PCAP
) -> list[Row]:
    """`rows` with the rows between the `first`-th segment and the last `last` segments replaced
    by one note ("… K segments not shown (see the pcap)"); unchanged when there are not more
    than first + last segments."""
    at = [i for i, row in enumerate(rows) if isinstance(row, SegmentRow)]
    if len(at) <= first + last:
        return rows
    start = at[first]  # the first row left out
    stop = at[-last] if last else len(rows)  # the first row shown again
    hidden = len(at) - first - last
    others = sum(1 for row in rows[start:stop] if not isinstance(row, SegmentRow))
    shown_where = _(where)
    if others:
        text = ngettext(
            "… {n} segments not shown (see {where}), with {others} other rows between them",
            "… {n} segments not shown (see {where}), with {others} other rows between them",
            hidden,
        ).format(n=hidden, where=shown_where, others=others)
    else:
        text = ngettext(
            "… {n} segments not shown (see {where})",
            "… {n} segments not shown (see {where})",
            hidden,
        ).format(n=hidden, where=shown_where)
    return [*rows[:start], NoteRow(text), *rows[stop:]]


def _segments(rows: Iterable[Row]) -> int:
    return sum(1 for row in rows if isinstance(row, SegmentRow))


@dataclass
class Report:
    command: str
    crafting: str  # e.g. "ns1 10.77.0.1"
    kernel: str
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    crafting_isn: int | None = None
    kernel_isn: int | None = None
    kernel_release: str = field(default_factory=platform.release)
    conn_isns: dict[tuple[int, int], tuple[int | None, int | None]] = field(default_factory=dict)
    # the model's prediction for a segment (by id of its Seen, which the rows keep alive): a crafted
    # segment's own prediction, or the one that explains a kernel segment
    predictions: dict[int, Predicted] = field(default_factory=dict)
    _t0: float | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add_segments(self, seen: Iterable[Seen], ports: tuple[int, int] | None = None) -> None:
        """A row for each segment; with `ports` (crafting port, kernel port), only that
        connection's (the pcap keeps everything). Times are shown from the first one."""
        for one in seen:
            seg = one.segment
            if ports is not None and {seg.sport, seg.dport} != set(ports):
                continue
            if self._t0 is None:
                self._t0 = one.time
            self.rows.append(SegmentRow(one))

    def change(
        self,
        side: Side,
        before: State | None,
        after: State | None,
        how: How,
        note: str = "",
        time: float | None = None,
        conn: tuple[int, int] | None = None,
    ) -> None:
        self.rows.append(StateRow(side, before, after, how, note, time, conn))

    def note(self, text: str) -> None:
        self.rows.append(NoteRow(text))

    def expect(self, step: str, expected: str, observed: str, ok: bool) -> None:
        self.rows.append(ExpectRow(step, expected, observed, ok))

    def shown_rows(self) -> list[Row]:
        """The rows a ladder shows: every row, or with a long middle left out (cap_rows)."""
        return cap_rows(self.rows)

    def capped(self, where: str = THE_PCAP) -> Report:
        """A copy with the rows a ladder shows, for a file that keeps them (a student's report,
        grade.json); `where` names the capture that has every segment, and `info` says how many
        segments were left out."""
        rows = cap_rows(self.rows, where=where)
        if rows is self.rows:
            return self
        out = replace(self, rows=rows)
        out.info = {**self.info, "segments_not_shown": self.segment_count() - _segments(rows)}
        return out

    def segment_count(self) -> int:
        return _segments(self.rows)

    def rel_time(self, t: float | None) -> float | None:
        if t is None or self._t0 is None:
            return None
        return t - self._t0

    def bases(self, seen: Seen) -> tuple[int | None, int | None]:
        """ISNs that seq and ack of this segment are shown relative to (per connection, where
        several are known: key (crafting port, kernel port) -> (crafting ISN, kernel ISN))."""
        ours, theirs = self.conn_isns.get(seen.key, (self.crafting_isn, self.kernel_isn))
        return (theirs, ours) if seen.kernel_side else (ours, theirs)

    def segment_json(self, seen: Seen) -> dict[str, Any]:
        seq_base, ack_base = self.bases(seen)
        seg = seen.segment
        if Flags.ACK not in seg.flags:
            ack_base = None
        return {
            "time": self.rel_time(seen.time),
            "from": "kernel" if seen.from_kernel else "crafting",
            "src": f"{seen.src}:{seg.sport}",
            "dst": f"{seen.dst}:{seg.dport}",
            "flags": seg.flags.tcpdump,
            "seq": seg.seq,
            "ack": seg.ack if Flags.ACK in seg.flags else None,
            "rel_seq": None if seq_base is None else signed(seg.seq, seq_base),
            "rel_ack": None if ack_base is None else signed(seg.ack, ack_base),
            "window": seg.window,
            "options": [o.notation(ack_base) for o in seg.options],  # SACK edges as the ack
            "length": len(seg.payload),
            "checksum_ok": seen.checksum_ok,
            "forged": seen.forged,  # crafted with the kernel's address: the student's
            "malformed": list(seen.malformed),  # what Linux finds wrong in it
            "delivered": seen.delivered,  # False: Linux dropped it before its TCP
            "text": seg.notation(seq_base, ack_base),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "ok": self.ok,
            "crafting": self.crafting,
            "kernel": self.kernel,
            "kernel_release": self.kernel_release,
            "crafting_isn": self.crafting_isn,
            "kernel_isn": self.kernel_isn,
            "ladder": [row.to_json(self) for row in self.shown_rows()],
            "checks": [c.to_json() for c in self.checks],
            "timing": self.timing,
            "info": self.info,
        }
