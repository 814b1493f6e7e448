"""The ladder a student's report shows, capped: a SYN flood of thousands of segments would make a
report of megabytes that nobody reads. The first HEAD and the last TAIL rows are kept with a note
between them of what was left out; the capture (LAB.pcap) keeps every segment."""

from __future__ import annotations

from dataclasses import replace

from tcplab.engine.report import Report, Row

HEAD = 200
TAIL = 50


def capped(report: Report, pcap: str, head: int = HEAD, tail: int = TAIL) -> Report:
    """A copy of `report` with at most head + tail rows, and a note row where rows were cut."""
    rows = report.rows
    if len(rows) <= head + tail + 1:
        return report
    left_out = rows[head : len(rows) - tail]
    segments = sum(1 for r in left_out if r.kind == "segment")
    note = Row(
        "note",
        None,
        text=f"{len(left_out)} rows ({segments} segments) not shown; see {pcap} for all of them",
    )
    out: Report = replace(report, rows=[*rows[:head], note, *rows[len(rows) - tail :]])
    out.info = {**report.info, "rows_not_shown": len(left_out), "segments_not_shown": segments}
    return out
