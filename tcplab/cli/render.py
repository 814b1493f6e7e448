"""Text for people: the ladder, the checks, the socket table and the testbed's status (rich)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tcplab.engine.check import Check
from tcplab.engine.report import ExpectRow, How, NoteRow, Report, Row, SegmentRow, Side, StateRow
from tcplab.model.flags import Flags
from tcplab.netns.diag import SocketRow
from tcplab.text import printable

OK = "[green]✓[/]"
BAD = "[red]✗[/]"
NOT_REACHED = "[dim]–[/]"  # not reached, or the same cause as a check above: charged there


def console() -> Console:
    """The terminal, as it is now: piped output is not cut to 80 columns (tables would lose their
    addresses). Made at each use, so nothing about the terminal is fixed when this module loads."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def safe(text: str) -> str:
    """printable() and rich's markup escaped: for text tcplab did not write."""
    return escape(printable(text))


def _side_name(report: Report, side: Side) -> str:
    return (report.crafting if side is Side.CRAFTING else report.kernel).split()[0]


def ladder(
    report: Report, only_failed: bool = False, show_checks: bool = True, out: Console | None = None
) -> None:
    """The ladder diagram on `out` (default: the terminal)."""
    con = out or console()
    con.print(
        f"[bold]{safe(report.crafting)}[/] (crafted by tcplab)  ⇄  "
        f"[bold]{safe(report.kernel)}[/] (Linux {safe(report.kernel_release)})"
    )
    con.print()
    for row in report.shown_rows():
        con.print(_row(report, row))
    con.print()
    if show_checks:
        checks(report.checks, only_failed=only_failed)
    if report.timing:
        parts = [f"{k.replace('_', ' ')} {v:.3f}" for k, v in report.timing.items()]
        con.print(f"[dim]timing: {', '.join(parts)}[/]")


def _row(report: Report, row: Row) -> str:
    """One ladder row as rich markup."""
    match row:
        case SegmentRow(seen=seen):
            t = report.rel_time(seen.time) or 0.0
            seq_base, ack_base = report.bases(seen)
            seg = seen.segment
            text = safe(seg.notation(seq_base, ack_base if Flags.ACK in seg.flags else None))
            arrow = "[cyan]◀──[/]" if seen.from_kernel else "[yellow]──▶[/]"
            who = _side_name(report, Side.KERNEL if seen.from_kernel else Side.CRAFTING)
            bad = "" if seen.checksum_ok else " [red](bad checksum)[/]"
            return f"  {t * 1000:9.3f} ms  {arrow} {who:<5} {text}{bad}"
        case StateRow():
            name = _side_name(report, row.side)
            before = row.before.value if row.before else "no socket"
            after = row.after.value if row.after else "no socket"
            moved = before if before == after else f"{before} → {after}"
            how = "seen in its socket table" if row.how is How.OBSERVED else "tcplab's side"
            note = f"; {row.note}" if row.note else ""
            return f"               [magenta]{name}: {moved}[/] [dim]({how}{safe(note)})[/]"
        case ExpectRow():
            mark = OK if row.ok else BAD
            pad = " " * len(row.step)
            return (
                f"               [bold]{safe(row.step)}[/] expected {safe(row.expected)}\n"
                f"               {pad} observed {safe(row.observed)} {mark}"
            )
        case NoteRow():
            return f"               [dim]{safe(row.text)}[/]"


def checks(items: list[Check], only_failed: bool = False) -> None:
    con = console()
    shown = [c for c in items if not c.ok] if only_failed else items
    for i, c in enumerate(shown):
        mark = OK if c.ok else BAD
        line = f" {mark} {safe(c.name)}"
        if not c.ok:
            line += f": expected {safe(c.expected)}, got {safe(c.observed)}"
        con.print(line)
        last = i + 1 == len(shown) or shown[i + 1].why != c.why
        if not last:
            continue  # the explanation shared with the next check is printed once, after it
        con.print(f"     [dim]{safe(c.why)}" + (f" ({safe(c.source)})" if c.source else "") + "[/]")
        if c.linux_note:
            con.print(f"     [dim]Linux: {safe(c.linux_note)}[/]")
        if c.prediction is not None and not c.ok and c.prediction.agrees is not False:
            con.print(f"     [dim]{safe(c.prediction.summary())}[/]")  # a finding is in `why`
    passed = sum(c.ok for c in items)
    color = "green" if passed == len(items) else "red"
    con.print(f"[{color}]{passed}/{len(items)} checks passed[/]")


def socket_table(rows: list[SocketRow], title: str) -> None:
    con = console()
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for col in (
        "State",
        "ss",
        "Recv-Q",
        "Send-Q",
        "Local Address:Port",
        "Peer Address:Port",
        "Timer",
    ):
        table.add_column(col, justify="right" if col.endswith("-Q") else "left")
    for r in rows:
        timer = "" if r.timer == "off" else f"{r.timer} {r.expires_ms / 1000:.3f}s"
        if r.retrans:
            timer += f" retrans {r.retrans}"
        peer = "*:*" if r.dport == 0 else f"{r.dst}:{r.dport}"
        table.add_row(
            r.state.value,
            r.ss_state,
            str(r.rqueue),
            str(r.wqueue),
            f"{r.src}:{r.sport}",
            peer,
            timer,
        )
    if not rows:
        con.print(f"{title}\n  (no TCP sockets)")
    else:
        con.print(table)


def lab_status(st: dict[str, Any]) -> None:
    con = console()
    spec = st["spec"]
    health = "[green]healthy[/]" if st["healthy"] else "[red]broken[/]"
    con.print(
        f"[bold]testbed {spec['crafting']} ⇄ {spec['kernel']}[/]  subnet {spec['subnet']}, "
        f"port {spec['port']}: {health}"
    )
    for ns in st["namespaces"]:
        link = ns["link"]
        where = (
            "missing"
            if not ns["present"]
            else ("[red]not tcplab's[/]" if not ns["ours"] else "present")
        )
        line = f"  {ns['name']:<8} {ns['role']:<13} {where}"
        if link:
            routes = ", ".join(link["routes"]) or "none"
            closed = not any(f"{ns['name']} has routes out" in p for p in st["problems"])
            line += (
                f"  {link['ifname']} {link['state']} {link['mac']} "
                f"{' '.join(link['addresses'])}  routes: {routes}"
                + (" (no route out)" if closed else " [red](a route out!)[/]")
            )
        con.print(line)
    rule = st.get("rule")
    if rule:
        con.print(
            f"  rule in {spec['crafting']}: {safe(rule['text'])}  "
            f"[dim](dropped {rule['dropped']} of its kernel's RSTs so far)[/]"
        )
    else:
        con.print(f"  rule in {spec['crafting']}: [red]missing[/]")
    app = st.get("app")
    if app and app.get("alive"):
        listeners = ", ".join(str(s["local"][1]) for s in app["sockets"] if s["kind"] == "listener")
        conns = sum(1 for s in app["sockets"] if s["kind"] == "connection")
        con.print(
            f"  application in {spec['kernel']}: pid {app['pid']}, listening on "
            f"{listeners or 'nothing'}, {conns} open connection(s)"
        )
    else:
        con.print(f"  application in {spec['kernel']}: [red]not running[/]")
    for problem in st["problems"]:
        con.print(f"  [red]problem:[/] {safe(problem)}")
    if st.get("sockets") is not None:
        socket_table(st["sockets"], f"  sockets in {spec['kernel']}")


def lab_result(result: Any) -> None:
    """A lab check: the ladder, then each check with its points, explanation and hint."""
    con = console()
    lab = result.lab
    con.print(f"[bold]lab {lab.name}[/]: {safe(lab.title)}  ({safe(str(result.solution))})")
    ladder(result.report, show_checks=False)
    program_output(result)
    if getattr(result, "judged", ""):
        con.print(f"[dim]{safe(result.judged)}[/]")
    for r in result.results:
        mark = OK if r.ok else NOT_REACHED if r.status in ("not_reached", "same_cause") else BAD
        con.print(
            f" {mark} {r.earned}/{r.points}  {safe(r.title)}"
            + (f" [dim]({safe(r.detail)})[/]" if r.detail else "")
        )
        if r.why:
            con.print(f"        [dim]{safe(r.why)}[/]")
        if not r.ok and r.hint:
            tier = f" ({r.hint_level} of {r.hint_levels})" if r.hint_levels > 1 else ""
            con.print(f"        [yellow]hint{tier}: {safe(r.hint)}[/]")
    color = "green" if result.score == result.max_score else "red"
    con.print(f"[{color}]score {result.score}/{result.max_score}[/]")


def program_output(result: Any) -> None:
    """What the solution printed (the last lines of each stream, tracebacks folded to the
    student's own frames) and how it ended."""
    con = console()
    out = result.program_output()
    if not out.stdout.lines and not out.stderr.lines:
        con.print("[bold]your program printed nothing[/]")
    else:
        con.print("[bold]your program printed:[/]")
    for name, part in (("stdout", out.stdout), ("stderr", out.stderr)):
        if not part.lines:
            continue
        head = name
        if part.cut:
            head += f" (its last {len(part.lines)} lines; {part.cut} earlier ones not shown)"
        con.print(f"  [dim]{head}:[/]")
        for line in part.lines:
            con.print(f"  [dim]│[/] {safe(line)}".rstrip())
    if result.timed_out:
        con.print(f"[red]your program was stopped after {result.lab.time_limit:g} s[/]")
    elif out.raised is not None and out.raised.file is not None:
        where = f"{out.raised.file} line {out.raised.line}"
        con.print(f"[red]your program stopped at {safe(where)}: {safe(out.raised.exception)}[/]")
    elif result.exit_code:
        con.print(f"[red]your program exited with status {result.exit_code}[/]")
