"""watch: the testbed's traffic and both sides' states, live, while a student works elsewhere.

On a terminal the whole ladder is drawn again at each refresh (rich Live; the latest steps that fit
the screen), with each connection's kernel state as its socket table shows it now. Piped, each
step is printed once, when it has settled (tcplab.exercise.watch.Shown), for `tcplab watch | tee`.
Ctrl-C is how watching ends (as `--for` does): exit 0, with nothing left open, like `tcplab
shell` ending at Ctrl-D; SIGTERM interrupts it as any command (exit 130).
"""

from __future__ import annotations

import contextlib
import io
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from rich.console import Console, Group
from rich.markup import escape
from rich.text import Text

from tcplab.cli import lanes, render
from tcplab.cli.tidy import tidy
from tcplab.cli.wrap import para
from tcplab.engine.ladder import Ladder
from tcplab.errors import EnvironmentProblem
from tcplab.exercise.live import Live
from tcplab.exercise.watch import SETTLE, Shown, Watched
from tcplab.i18n import _
from tcplab.model.state import State
from tcplab.netns.topology import require_root
from tcplab.text import keep, printable

REFRESH = 0.25  # s between refreshes, at least; more when laying the ladder out takes longer
BUSY = 0.25  # at most this share of the time goes to laying out the ladder again
MOST = 200  # segments a pipe lays out at once (a ladder leaves out a middle past 250)
BACK = 20  # segments printed already that a pipe lays out again (their late state changes)


def watch(target: str, absolute: bool, seconds: float | None) -> None:
    """Watch the testbed `target` names until Ctrl-C, or for `seconds`."""
    from tcplab.engine.target import parse_target, resolve
    from tcplab.netns.record import find_record

    parse_target(target)
    require_root("watch")
    tidy()
    where = resolve(target)
    rec = find_record(where.spec.crafting)
    if rec is None or rec.app is None:
        raise EnvironmentProblem(
            _("the testbed of {crafting}/{kernel} has no application").format(
                crafting=where.spec.crafting, kernel=where.spec.kernel
            ),
            _("run 'sudo tcplab setup' again to repair it"),
        )
    con = render.console()
    until = None if seconds is None else time.monotonic() + seconds
    with Live(rec, where.port) as live:
        view = _Screen(con, absolute) if con.is_terminal else _Pipe(con, absolute)
        try:
            with _ctrl_c_stops() as stopped:
                _loop(live, view, until, stopped)
            view.end(live.refresh())
        finally:
            view.close()


@contextlib.contextmanager
def _ctrl_c_stops() -> Iterator[threading.Event]:
    """Ctrl-C while watching is its normal end: it is noted, and the loop ends at its next turn
    (within a refresh; never in the middle of a call to the application). SIGTERM still
    interrupts, as in any command (exit 130)."""
    stopped = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopped.set()

    before = signal.signal(signal.SIGINT, stop)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGINT, before)


class _View:
    def __init__(self, con: Console, absolute: bool) -> None:
        self.con, self.relative = con, not absolute
        self.waiting = True  # steps seen but not shown yet (a pipe waits for them to settle)

    def show(self, watched: Watched, now: float) -> None: ...

    def end(self, watched: Watched) -> None: ...

    def close(self) -> None:
        """Give the terminal back (also after an error)."""


def _loop(live: Live, view: _View, until: float | None, stopped: threading.Event) -> None:
    """Read the capture and show what is new, at least every REFRESH seconds, until `until` or
    `stopped`."""
    wait, shown = REFRESH, None
    while (until is None or time.monotonic() < until) and not stopped.is_set():
        left = wait if until is None else min(wait, until - time.monotonic())
        live.poll(max(0.0, left))
        if live.version() == shown and not view.waiting:
            continue  # nothing new: no layout, so the capture and the sampler have the CPU
        shown, started = live.version(), time.monotonic()
        view.show(live.refresh(), time.time())
        wait = max(REFRESH, (time.monotonic() - started) / BUSY)


class _Pipe(_View):
    """Each step once, when it has settled: a pipe cannot take a line back. Each refresh lays out
    the segments from the last BACK printed (a state change may still come to one of them), at
    most MOST at once, and prints the steps not printed yet, the ladder's header with the first."""

    def __init__(self, con: Console, absolute: bool) -> None:
        super().__init__(con, absolute)
        self.shown = Shown()
        self.said = False
        self.done = 0  # segments printed
        self.started = False  # the ladder's header is printed
        self.legend: list[Text] = []  # printed at the end

    def show(self, watched: Watched, now: float, final: bool = False) -> None:
        if not self.said:
            _heading(self.con, watched)
            self.said = True
        since = watched.since_first(now)
        settled = None if since is None else since - SETTLE
        while self._some(watched, settled, final):
            pass
        if final:
            for line in self.legend:
                self.con.print(line)

    def _some(self, watched: Watched, settled: float | None, final: bool) -> bool:
        """Print the settled steps of the next window; whether a window after it waits."""
        first = max(0, self.done - BACK)
        start = watched.seen[first].time if first < len(watched.seen) else None
        ladder = watched.ladder(self.relative, start, MOST)
        more = len(watched.seen) - first > MOST
        fresh = self.shown.fresh(ladder, settled, final)
        self.waiting = self.shown.waiting or more
        if not fresh:
            return False
        self.done += sum(1 for step in fresh if step.arrow is not None)
        chunk = replace(ladder, steps=tuple(fresh))
        lines = lanes.lines(
            chunk, platform.release(), render.ladder_width(self.con), not self.started
        )
        self.started = True
        at = _legend_at(lines)
        self.legend = lines[at:] or self.legend
        for line in lines[:at]:
            self.con.print(line)
        return more

    def end(self, watched: Watched) -> None:
        self.show(watched, time.time(), final=True)
        _states(self.con, watched)


class _Screen(_View):
    """The whole ladder again at each refresh: the latest steps that fit, the states now."""

    def __init__(self, con: Console, absolute: bool) -> None:
        super().__init__(con, absolute)
        from rich.live import Live as RichLive

        self.live = RichLive(console=con, auto_refresh=False, transient=False)
        self.live.start()

    def show(self, watched: Watched, now: float) -> None:
        self.live.update(frame(self.con, watched, self.relative), refresh=True)
        self.waiting = False

    def end(self, watched: Watched) -> None:
        self.show(watched, time.time())

    def close(self) -> None:
        self.live.stop()


def frame(con: Console, watched: Watched, relative: bool = True) -> Group:
    """One screen: the heading, the ladder's latest lines that fit, the kernel's states now (at
    most a third of the screen)."""
    head = _text(con, lambda c: _heading(c, watched))
    foot = _text(con, lambda c: _states(c, watched))
    third = max(1, con.height // 3)
    if len(foot) > third:
        foot = [
            *foot[: third - 1],
            Text(_("… {n} more lines").format(n=len(foot) - third + 1), "dim"),
        ]
    room = max(3, con.height - len(head) - len(foot) - 1)
    since = watched.seen[-room].time if len(watched.seen) > room else None  # one line each
    body = ladder_lines(watched.ladder(relative, since), con.width)
    for line in body:
        line.truncate(con.width)  # a line that does not fit would push the screen down
    if len(body) > room:
        body = [Text(_("… earlier lines"), "dim"), *body[len(body) - room + 1 :]]
    return Group(*head, *body, *foot)


def _text(con: Console, draw_on: Callable[[Console], None]) -> list[Text]:
    """What `draw_on(console)` prints, as lines of styled text at `con`'s width."""
    buf = io.StringIO()
    tmp = Console(
        file=buf,
        width=con.width,
        force_terminal=True,
        color_system="truecolor",  # the real console brings it down to what it can show
        highlight=False,
        soft_wrap=True,
    )
    draw_on(tmp)
    lines = Text.from_ansi(buf.getvalue().rstrip("\n")).split("\n")
    return list(lines)


def _heading(con: Console, watched: Watched) -> None:
    crafting, kernel = (printable(h) for h in watched.hosts)
    text = _("{crafting} ⇄ {kernel}, port {port}  ").format(
        crafting=crafting, kernel=kernel, port=watched.port
    )
    para(con, [(_("watching "), "bold"), (text, ""), (_("(Ctrl-C to stop)"), "dim")], hang="  ")


def _states(con: Console, watched: Watched) -> None:
    """Each connection's kernel state as its socket table shows it now (one that has no socket
    any more is left out); the listener's queue."""
    kernel = printable(watched.hosts[1].split()[0])
    parts = []
    for (cport, kport), sample in watched.states():
        if sample.state is State.CLOSED:
            continue
        text = f":{cport}⇄:{kport} {sample.state.value}"
        if sample.timer not in ("off", ""):
            text = _("{connection}, {timer} timer").format(connection=text, timer=sample.timer)
        parts.append(keep(text))
    if watched.listener:
        queue = _("listener :{port} accept queue {n}").format(
            port=watched.port, n=watched.listener[-1].rqueue
        )
        parts.append(keep(queue))
    text = "; ".join(parts) if parts else _("no connection")
    lead = _("kernel ({kernel}) now: ").format(kernel=kernel)
    para(con, [(text, "")], lead, hang="  ", lead=f"[magenta]{escape(lead)}[/]")


def ladder_lines(ladder: Ladder, width: int) -> list[Text]:
    """A ladder's lines in two lanes, as every command draws it (the kernel host runs this
    machine's kernel)."""
    return lanes.lines(ladder, platform.release(), width)


def _legend_at(lines: list[Text]) -> int:
    """Where the ladder's legend (under its last step) begins; len(lines) without one."""
    mark = f"{lanes.PROVED_MARK} "  # a row starts with its time, a state or a bar, never with this
    return next((i for i, x in enumerate(lines) if x.plain.lstrip().startswith(mark)), len(lines))
