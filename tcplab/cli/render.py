"""Text for people: the ladder, the checks, the socket table and the testbed's status (rich)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from tcplab.cli.lanes import lines as ladder_lines
from tcplab.cli.lanes import segment_text as segment_text
from tcplab.cli.wrap import PAGE_WIDTH, UNLIMITED, para, width
from tcplab.engine.check import Check
from tcplab.engine.ladder import build
from tcplab.engine.report import Report
from tcplab.i18n import N_, _
from tcplab.netns.diag import SocketRow
from tcplab.text import columns, keep, printable

OK = "[green]✓[/]"
BAD = "[red]✗[/]"
NOT_REACHED = "[dim]–[/]"  # not reached, or the same cause as a check above: charged there


# the report's timing figures (their keys are JSON's, the same in every language), as shown
_TIMINGS = {
    "syn_to_synack_ms": N_("syn to synack ms {ms}"),
    "kernel_synack_after_syn_ms": N_("kernel synack after syn ms {ms}"),
    "reply_ms": N_("reply ms {ms}"),
}


def _timing(key: str, value: float) -> str:
    ms = f"{value:.3f}"
    label = _TIMINGS.get(key)
    return _(label).format(ms=ms) if label else f"{key.replace('_', ' ')} {ms}"


if TYPE_CHECKING:
    from rich.console import Console

    _ConsoleBase = Console
else:
    _ConsoleBase = object


def console() -> Console:
    """The terminal, as it is now: COLUMNS wide, else the terminal's width, else 80 (piped). Text is
    wrapped by tcplab (`para`), so rich neither wraps nor crops it. Made at each use, so nothing
    about the terminal is fixed when this module loads. Where rich would write no escape codes
    (not a terminal), a PlainConsole writes the same characters without rich's console."""
    if not _terminal():
        return PlainConsole(width())
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=width())


def _terminal() -> bool:
    """rich's Console.is_terminal for sys.stdout (TTY_COMPATIBLE, FORCE_COLOR, isatty)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class PlainConsole(_ConsoleBase):
    """What `console()` gives when the output is not a terminal: print() of one rich Text or one
    markup string writes its plain characters and a newline, exactly what rich's Console writes
    there (no colours, no wrapping with soft_wrap) for ~1/5 of the time and without importing
    rich's console (~20 ms). Anything else (other renderables, print's options, a tab, which rich
    expands, every other method) goes to a rich Console made then, writing to the same stdout."""

    def __init__(self, cols: int) -> None:
        self._cols = cols
        self._rich: Any = None

    @property
    def width(self) -> int:
        return self._cols

    @width.setter
    def width(self, cols: int) -> None:
        self._cols = cols

    @property
    def is_terminal(self) -> bool:
        return False

    def _console(self) -> Any:
        if self._rich is None:
            from rich.console import Console

            self._rich = Console(highlight=False, soft_wrap=True, width=self._cols)
        return self._rich

    def print(self, *objects: Any, **options: Any) -> None:
        from rich.text import Text

        if options or len(objects) > 1:
            self._console().print(*objects, **options)
            return
        obj = objects[0] if objects else Text("")
        text = Text.from_markup(obj) if isinstance(obj, str) else obj
        if not isinstance(text, Text) or "\t" in text.plain:
            self._console().print(obj)
            return
        sys.stdout.write(text.plain + "\n")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console(), name)


def safe(text: str) -> str:
    """printable() and rich's markup escaped: for text tcplab did not write."""
    return escape(printable(text))


def ladder(
    report: Report,
    only_failed: bool = False,
    show_checks: bool = True,
    out: Console | None = None,
    relative: bool = True,
) -> None:
    """The ladder (two lanes, you | kernel) on `out` (default: the terminal), then the checks."""
    con = out or console()
    for line in ladder_lines(build(report, relative), report.kernel_release, ladder_width(con)):
        con.print(line)
    con.print()
    if show_checks:
        checks(report.checks, only_failed=only_failed, out=con)
    if report.timing:
        parts = [_timing(k, v) for k, v in report.timing.items()]
        para(con, [(_("timing: {parts}").format(parts=", ".join(parts)), "dim")])


def ladder_width(con: Console) -> int:
    """The ladder's width: the console's, 80 where it has none (piped)."""
    return PAGE_WIDTH if con.width >= UNLIMITED else con.width


def checks(items: list[Check], only_failed: bool = False, out: Console | None = None) -> None:
    """Each check (or only the failed ones) with its explanation, wrapped under its own text."""
    con = out or console()
    shown = [c for c in items if not c.ok] if only_failed else items
    for i, c in enumerate(shown):
        text = printable(_(c.name))
        if not c.ok:
            text = _("{check}: expected {expected}, got {observed}").format(
                check=text,
                expected=keep(printable(str(c.expected))),
                observed=keep(printable(str(c.observed))),
            )
        para(con, text, "   ", lead=f" {OK if c.ok else BAD} ")
        last = i + 1 == len(shown) or shown[i + 1].why != c.why
        if not last:
            continue  # the explanation shared with the next check is printed once, after it
        source = f" ({keep(printable(c.source))})" if c.source else ""
        para(con, [(printable(_(c.why)) + source, "dim")], "     ")
        if c.linux_note:
            note = _("Linux: {note}").format(note=printable(_(c.linux_note)))
            para(con, [(note, "dim")], "     ")
        if c.prediction is not None and not c.ok and c.prediction.agrees is not False:
            summary = printable(c.prediction.summary())  # a finding is in `why`
            para(con, [(summary, "dim")], "     ")
    passed = sum(c.ok for c in items)
    color = "green" if passed == len(items) else "red"
    con.print(
        _("[{color}]{passed}/{n_items} checks passed[/]").format(
            color=color, passed=passed, n_items=len(items)
        )
    )


def socket_table(rows: list[SocketRow], title: str, out: Console | None = None) -> None:
    """The socket table like `ss -tano`, fitted to the terminal: one line per socket when it fits;
    else the timer, then ss's spelling of the state, move to a second line under the addresses;
    addresses are never broken."""
    con = out or console()
    text = title.lstrip(" ")
    para(con, text, title[: len(title) - len(text)])
    if not rows:
        con.print(_("  (no TCP sockets)"))
        return
    cells = [_socket_cells(r) for r in rows]
    for moved in range(3):  # how many of the last columns (Timer, ss) go to a second line
        names = [c for i, c in enumerate(_SOCKET_COLUMNS) if i not in _MOVED[:moved]]
        columns = list(zip(names, *_kept(cells, moved), strict=True))
        widths = [max(len(v) for v in col) for col in columns]
        if sum(widths) + 2 * (len(widths) - 1) <= con.width:
            break
    else:  # narrower than any table: each socket as a few lines
        for c in cells:
            ss = keep(f"(ss {c[1]})")
            text = f"{c[0]} {ss} {c[4]} ⇄ {c[5]}, Recv-Q {c[2]}, Send-Q {c[3]}"
            if c[6]:
                text = _("{socket}, timer {timer}").format(socket=text, timer=c[6])
            para(con, text, hang="  ")
        return
    right = {i for i, n in enumerate(names) if n.endswith("-Q")}

    def cols(values: list[str]) -> str:
        padded = (
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    con.print(f"[bold]{escape(cols(names))}[/]")
    at = names.index("Local Address:Port")
    under = " " * (sum(widths[:at]) + 2 * at)  # a second line starts under the addresses
    for c, kept in zip(cells, _kept(cells, moved), strict=True):
        con.print(escape(cols(kept)))
        extra = [f"{_SOCKET_COLUMNS[i].lower()} {c[i]}" for i in sorted(_MOVED[:moved]) if c[i]]
        if extra:
            para(con, ", ".join(extra), under)


_SOCKET_COLUMNS = (
    "State",
    "ss",
    "Recv-Q",
    "Send-Q",
    "Local Address:Port",
    "Peer Address:Port",
    "Timer",
)
_MOVED = (6, 1)  # the columns a narrow table moves to a second line, in this order


def _kept(cells: list[list[str]], moved: int) -> list[list[str]]:
    return [[v for i, v in enumerate(c) if i not in _MOVED[:moved]] for c in cells]


def _socket_cells(r: SocketRow) -> list[str]:
    timer = "" if r.timer == "off" else f"{r.timer} {r.expires_ms / 1000:.3f}s"
    if r.retrans:
        timer += f" retrans {r.retrans}"
    peer = "*:*" if r.dport == 0 else f"{r.dst}:{r.dport}"
    state = [r.state.value, r.ss_state, str(r.rqueue), str(r.wqueue)]
    return [printable(v) for v in (*state, f"{r.src}:{r.sport}", peer, timer)]


def lab_status(st: dict[str, Any]) -> None:
    """A testbed's status: one paragraph per namespace, the rule, the application, the sockets."""
    con = console()
    spec = st["spec"]
    crafting, kernel = printable(spec["crafting"]), printable(spec["kernel"])
    health = (_("healthy"), "green") if st["healthy"] else (_("broken"), "red")
    head = _("testbed {crafting} ⇄ {kernel}  subnet {subnet}, port {port}: ").format(
        crafting=crafting, kernel=kernel, subnet=spec["subnet"], port=spec["port"]
    )
    para(con, [(head, "bold"), health], hang="  ")
    for ns in st["namespaces"]:
        _namespace_status(con, ns, st["problems"])
    rule = st.get("rule")
    rule_in = "  " + _("rule in {crafting}: ").format(crafting=crafting)
    if rule:
        dropped = "  " + _("(dropped {n} of its kernel's RSTs so far)").format(n=rule["dropped"])
        para(con, [(printable(rule["text"]), ""), (dropped, "dim")], rule_in)
    else:
        para(con, [(_("missing"), "red")], rule_in)
    app = st.get("app")
    app_in = "  " + _("application in {kernel}: ").format(kernel=kernel)
    if app and app.get("alive"):
        listeners = ", ".join(str(s["local"][1]) for s in app["sockets"] if s["kind"] == "listener")
        conns = sum(1 for s in app["sockets"] if s["kind"] == "connection")
        text = _("pid {pid}, listening on {listeners}, {n} open connection(s)").format(
            pid=app["pid"], listeners=listeners or _("nothing"), n=conns
        )
        para(con, text, app_in)
    else:
        para(con, [(_("not running"), "red")], app_in)
    problem_head = _("problem: ")
    for problem in st["problems"]:
        para(con, printable(problem), "  " + problem_head, lead=f"  [red]{problem_head}[/]")
    if st.get("sockets") is not None:
        socket_table(st["sockets"], "  " + _("sockets in {kernel}").format(kernel=kernel), out=con)


def _namespace_status(con: Console, ns: dict[str, Any], found: list[str]) -> None:
    """One namespace: its role, whether it is there and tcplab's, its link and routes."""
    name = printable(ns["name"])
    where, color = _("present"), ""
    if not ns["present"]:
        where = _("missing")
    elif not ns["ours"]:
        where, color = _("not tcplab's"), "red"
    role = _(ns["role"])
    who = f"  {name:<8} {role}{' ' * max(13 - columns(role), 0)} "
    indent = f"{who}{where}  "
    lead = escape(who) + (f"[{color}]{escape(where)}[/]  " if color else f"{escape(where)}  ")
    link = ns["link"]
    if not link:
        para(con, "", indent, lead=lead)
        return
    routes = ", ".join(link["routes"]) or _("none")
    routes_out = _("{ns} has routes out of the testbed: {routes}").format(ns=ns["name"], routes="")
    closed = not any(p.startswith(routes_out) for p in found)
    text = f"{link['ifname']} {link['state']} {link['mac']} {' '.join(link['addresses'])}  "
    out = (keep(_(" (no route out)")), "") if closed else (keep(_(" (a route out!)")), "red")
    routes_text = _("routes: {routes}").format(routes=printable(routes))
    para(con, [(printable(text), ""), (routes_text, ""), out], indent, lead=lead)


def lab_result(result: Any, relative: bool = True) -> None:
    """A lab check: the ladder, then each check with its points, explanation and hint, each wrapped
    under its own text ("✗ 0/3  your ACK ..." continues under "your")."""
    con = console()
    lab = result.lab
    head = [(_("lab {name}").format(name=lab.name), "bold"), (f": {printable(_(lab.title))}  ", "")]
    para(con, [*head, (f"({printable(str(result.solution))})", "")], hang="    ")
    ladder(result.report, show_checks=False, out=con, relative=relative)
    program_output(result)
    if getattr(result, "judged", ""):
        para(con, [(printable(result.judged), "dim")])
    if getattr(result, "dropped", None) is not None:  # the port rule kept segments from the checks
        para(con, [(printable(result.dropped.text()), "yellow")], hang="    ")
    for note in getattr(result, "beyond", []):  # grading's limits this run went past
        para(con, [(printable(note), "yellow")], hang="    ")
    for r in result.results:
        _check_result(con, r.for_students())  # a hidden check: its points, no detail
    color = "green" if result.score == result.max_score else "red"
    con.print(
        _("[{color}]score {score}/{max_score}[/]").format(
            color=color, score=result.score, max_score=result.max_score
        )
    )


def program_output(result: Any) -> None:
    """What the solution printed (the last lines of each stream, tracebacks folded to the
    student's own frames) and how it ended."""
    con = console()
    out = result.program_output()
    if not out.stdout.lines and not out.stderr.lines:
        con.print(_("[bold]your program printed nothing[/]"))
    else:
        con.print(_("[bold]your program printed:[/]"))
    for name, part in (("stdout", out.stdout), ("stderr", out.stderr)):
        if not part.lines:
            continue
        head = name
        if part.cut:
            head += " " + _("(its last {n} lines; {cut} earlier ones not shown)").format(
                n=len(part.lines), cut=part.cut
            )
        con.print(_("  [dim]{head}:[/]").format(head=head))
        for line in part.lines:
            text = printable(line).rstrip()
            lead = "  │ " + " " * (len(text) - len(text.lstrip()))
            para(con, [(text.lstrip(), "")], lead, hang=lead + "  ")
    if result.timed_out:
        con.print(
            _("[red]your program was stopped after {time_limit:g} s[/]").format(
                time_limit=result.lab.time_limit
            )
        )
    elif out.raised is not None and out.raised.file is not None:
        where = _("{file} line {line}").format(file=out.raised.file, line=out.raised.line)
        text = _("your program stopped at {where}: {exception}").format(
            where=printable(where), exception=printable(out.raised.exception)
        )
        para(con, [(text, "red")], hang="    ")
    elif result.exit_code:
        con.print(
            _("[red]your program exited with status {exit_code}[/]").format(
                exit_code=result.exit_code
            )
        )


def _check_result(con: Console, r: Any) -> None:
    """One scored check: mark, points and title, its detail, why, and (failed) the hint."""
    mark = OK if r.ok else NOT_REACHED if r.status in ("not_reached", "same_cause") else BAD
    indent = f" ✓ {r.earned}/{r.points}  "
    lead = f" {mark} {r.earned}/{r.points}  "
    under = " " * columns(indent)
    detail = [(f" ({printable(r.detail)})", "dim")] if r.detail else []
    para(con, [(printable(_(r.title)), ""), *detail], indent, lead=lead)
    if r.why:
        para(con, [(printable(_(r.why)), "dim")], under)
    if not r.ok and r.hint:
        if r.hint_levels > 1:
            hint = _("hint ({level} of {levels}): ").format(
                level=r.hint_level, levels=r.hint_levels
            )
        else:
            hint = _("hint: ")
        text = f"{hint}{printable(_(r.hint))}"
        para(con, [(text, "yellow")], under, hang=under + " " * columns(hint))
