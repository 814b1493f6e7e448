"""What an exchange showed: the ladder (segments and state transitions, in order) and the checks.

A ladder shows at most SHOWN_FIRST + SHOWN_LAST segments (a SYN flood sends thousands): the first
ones, a note saying how many are left out, and the last ones; the pcap keeps every segment.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field, replace
from typing import Any

from tcplab.engine.check import Check
from tcplab.engine.session import Seen, Session
from tcplab.model.flags import Flags
from tcplab.model.seqnum import relative
from tcplab.model.state import State


@dataclass(frozen=True)
class StateChange:
    side: str  # "crafting" or "kernel"
    before: State | None  # None: no socket
    after: State | None
    how: str  # "model" (tcplab's own side) or "observed" (the kernel's socket table)
    note: str = ""


@dataclass(frozen=True)
class Row:
    kind: str  # "segment", "state", "note" or "expect" (a scenario step: expected vs observed)
    time: float | None
    seen: Seen | None = None
    change: StateChange | None = None
    text: str = ""
    expected: str = ""
    observed: str = ""
    ok: bool | None = None


SHOWN_FIRST = 200  # segments a ladder shows from its start ...
SHOWN_LAST = 50  # ... and from its end; those between are counted in one note


def cap_rows(
    rows: list[Row], first: int = SHOWN_FIRST, last: int = SHOWN_LAST, where: str = "the pcap"
) -> list[Row]:
    """`rows` with the rows between the `first`-th segment and the last `last` segments replaced
    by one note ("… K segments not shown (see the pcap)"); unchanged when there are not more
    than first + last segments."""
    at = [i for i, row in enumerate(rows) if row.kind == "segment"]
    if len(at) <= first + last:
        return rows
    start = at[first]  # the first row left out
    stop = at[-last] if last else len(rows)  # the first row shown again
    hidden = len(at) - first - last
    others = sum(1 for row in rows[start:stop] if row.kind != "segment")
    text = f"… {hidden} segments not shown (see {where})"
    if others:
        text += f", with {others} other rows between them"
    return [*rows[:start], Row("note", None, text=text), *rows[stop:]]


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
    _synced: int = 0
    _t0: float | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def sync(self, session: Session, ports: tuple[int, int] | None = None) -> None:
        """Add a row for every segment the capture has seen since the last sync; with `ports`
        (crafting port, kernel port), only that connection's (the pcap keeps everything)."""
        for seen in session.seen[self._synced :]:
            seg = seen.segment
            if ports is not None and {seg.sport, seg.dport} != set(ports):
                continue
            if self._t0 is None:
                self._t0 = seen.time
            self.rows.append(Row("segment", seen.time, seen=seen))
        self._synced = len(session.seen)

    def change(
        self, side: str, before: State | None, after: State | None, how: str, note: str = ""
    ) -> None:
        self.rows.append(Row("state", None, change=StateChange(side, before, after, how, note)))

    def note(self, text: str) -> None:
        self.rows.append(Row("note", None, text=text))

    def expect(self, text: str, expected: str, observed: str, ok: bool) -> None:
        self.rows.append(
            Row("expect", None, text=text, expected=expected, observed=observed, ok=ok)
        )

    def shown_rows(self) -> list[Row]:
        """The rows a ladder shows: every row, or with a long middle left out (cap_rows)."""
        return cap_rows(self.rows)

    def capped(self, where: str = "the pcap") -> Report:
        """A copy with the rows a ladder shows, for a file that keeps them (a student's report,
        grade.json); `where` names the capture that has every segment, and `info` says how many
        segments were left out."""
        rows = cap_rows(self.rows, where=where)
        if rows is self.rows:
            return self
        out = replace(self, rows=rows)
        kept = sum(1 for r in rows if r.kind == "segment")
        out.info = {**self.info, "segments_not_shown": self.segment_count() - kept}
        return out

    def segment_count(self) -> int:
        return sum(1 for r in self.rows if r.kind == "segment")

    def rel_time(self, t: float | None) -> float | None:
        if t is None or self._t0 is None:
            return None
        return t - self._t0

    def bases(self, seen: Seen) -> tuple[int | None, int | None]:
        """ISNs that seq and ack of this segment are shown relative to (per connection, where
        several are known: key (crafting port, kernel port) -> (crafting ISN, kernel ISN))."""
        seg = seen.segment
        key = (seg.dport, seg.sport) if seen.from_kernel else (seg.sport, seg.dport)
        ours, theirs = self.conn_isns.get(key, (self.crafting_isn, self.kernel_isn))
        return (theirs, ours) if seen.from_kernel else (ours, theirs)

    def segment_json(self, seen: Seen) -> dict[str, Any]:
        seq_base, ack_base = self.bases(seen)
        seg = seen.segment
        return {
            "time": self.rel_time(seen.time),
            "from": "kernel" if seen.from_kernel else "crafting",
            "src": f"{seen.src}:{seg.sport}",
            "dst": f"{seen.dst}:{seg.dport}",
            "flags": seg.flags.tcpdump,
            "seq": seg.seq,
            "ack": seg.ack if Flags.ACK in seg.flags else None,
            "rel_seq": None if seq_base is None else relative(seg.seq, seq_base),
            "rel_ack": None
            if ack_base is None or Flags.ACK not in seg.flags
            else relative(seg.ack, ack_base),
            "window": seg.window,
            "options": [o.notation() for o in seg.options],
            "length": len(seg.payload),
            "checksum_ok": seen.checksum_ok,
            "text": seg.notation(seq_base, ack_base if Flags.ACK in seg.flags else None),
        }

    def to_json(self) -> dict[str, Any]:
        ladder: list[dict[str, Any]] = []
        for row in self.shown_rows():
            if row.kind == "segment" and row.seen is not None:
                ladder.append({"kind": "segment", **self.segment_json(row.seen)})
            elif row.kind == "state" and row.change is not None:
                c = row.change
                ladder.append(
                    {
                        "kind": "state",
                        "side": c.side,
                        "how": c.how,
                        "note": c.note,
                        "from": c.before.value if c.before else "no socket",
                        "to": c.after.value if c.after else "no socket",
                    }
                )
            elif row.kind == "expect":
                ladder.append(
                    {
                        "kind": "expect",
                        "step": row.text,
                        "expected": row.expected,
                        "observed": row.observed,
                        "ok": row.ok,
                    }
                )
            else:
                ladder.append({"kind": "note", "text": row.text})
        return {
            "command": self.command,
            "ok": self.ok,
            "crafting": self.crafting,
            "kernel": self.kernel,
            "kernel_release": self.kernel_release,
            "crafting_isn": self.crafting_isn,
            "kernel_isn": self.kernel_isn,
            "ladder": ladder,
            "checks": [c.to_json() for c in self.checks],
            "timing": self.timing,
            "info": self.info,
        }
