"""What `tcplab watch` has seen of a testbed so far, as a ladder; and which of its steps are new.

Theory of operation: the live driver (tcplab.exercise.live) keeps adding what the kernel host's
capture, its socket table's sampler and the application's log show. At each refresh the whole
exchange is made into a Recording and laid out exactly as a lab check lays out its run
(tcplab.exercise.evaluate.exchange: the same replay through tcplab's one TCP model, the same rows),
then drawn as the one Ladder (tcplab.engine.ladder.build). Replaying it all again each time keeps
one way of explaining an exchange; it is fast enough (bench/watch_bench.py measures it: a few
ms a refresh for a lab's run).

A terminal shows the whole ladder again at each refresh. A pipe cannot take a line back, so
`Shown` hands out each step once, only when it has settled (a state change is read from the socket
table a little after the segment that caused it, and is placed beside that segment), and a change
that still comes to a step already printed gets a line of its own. Each step it hands out names its
connection even while there is only one: a second one may come later.

Pure: no capture, no socket, no clock (times are passed in).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from tcplab.app.protocol import Event
from tcplab.engine.ladder import Change, Ladder, Step, build
from tcplab.engine.report import Report, Row, SegmentRow
from tcplab.engine.seen import Seen
from tcplab.exercise.evaluate import exchange
from tcplab.exercise.kit import Sample
from tcplab.exercise.recording import Key, Recording
from tcplab.model.endpoint import Sysctls

SETTLE = 0.5  # s: a step this old has all its state changes (the sampler reads within ms)


@dataclass
class Watched:
    """Everything seen since watching began: segments, each connection's sampled kernel states,
    the port's listener, and the application's calls."""

    kernel_addr: str
    hosts: tuple[str, str]  # "ns1 10.77.0.1", "ns2 10.77.0.2"
    port: int  # the kernel's port watched for its listener
    started: float  # when watching began (the capture's clock)
    sysctls: Sysctls = field(default_factory=Sysctls)
    seen: list[Seen] = field(default_factory=list)
    samples: dict[Key, list[Sample]] = field(default_factory=dict)
    listener: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def recording(self) -> Recording:
        """The exchange as a lab check's Recording: the application's calls since watching began,
        and every listen() before (the model needs the listeners that were already there)."""
        events = [e for e in self.events if e.time >= self.started or e.op == "listen"]
        return Recording(
            lab="watch",
            kernel_addr=self.kernel_addr,
            frames=[],
            samples=self.samples,
            listener=self.listener,
            events=events,
            sysctls=self.sysctls,
            exit_code=None,
            timed_out=False,
            ports=[self.port],
            hosts=self.hosts,
            seen=list(self.seen),
        )

    def report(self) -> Report:
        report = exchange(self.recording())
        report.command = "watch"
        return report

    def ladder(
        self, relative: bool = True, since: float | None = None, most: int | None = None
    ) -> Ladder:
        """The ladder; with `since` (capture time), only of the rows from the first segment at or
        after it, and with `most`, up to that many segments: the model replays every segment, the
        ladder lays out what will be shown (it leaves out the middle past SHOWN_FIRST +
        SHOWN_LAST segments, and a pipe must show each)."""
        report = self.report()
        if since is not None or most is not None:
            report = replace(report, rows=_window(report.rows, since, most))
        return build(report, relative)

    def since_first(self, now: float) -> float | None:
        """`now` in the ladder's time (seconds since its first segment); None before one."""
        return now - self.seen[0].time if self.seen else None

    def states(self) -> list[tuple[Key, Sample]]:
        """Each connection's latest kernel state, in the order they were first seen."""
        return [(key, samples[-1]) for key, samples in self.samples.items() if samples]


def _window(rows: list[Row], since: float | None, most: int | None) -> list[Row]:
    """The rows from the first segment at or after `since`, up to `most` segments."""
    at = [i for i, r in enumerate(rows) if isinstance(r, SegmentRow)]
    start = next((i for i in at if since is None or _seen(rows[i]).time >= since), len(rows))
    after = [i for i in at if i >= start]
    stop = after[most] if most is not None and len(after) > most else len(rows)
    return rows[start:stop]


def _seen(row: Row) -> Seen:
    assert isinstance(row, SegmentRow)
    return row.seen


StepKey = tuple[object, ...]


def _key(step: Step, ports: tuple[int, int] | None) -> StepKey:
    """A step as it stays across refreshes: its connection by its ports (a label grows when a
    second connection comes); an arrow's verdict is decided later, so not part of it."""
    arrow = None if step.arrow is None else (step.arrow.way, step.arrow.text)
    return (step.time, ports, arrow, step.text, step.ok)


def _ports(ladder: Ladder, step: Step) -> tuple[int, int] | None:
    """The ports of a step's connection (None: a note of no connection)."""
    if step.conn:
        return next(
            ((c.crafting_port, c.kernel_port) for c in ladder.conns if c.label == step.conn), None
        )
    if len(ladder.conns) == 1 and (step.arrow is not None or step.changes):
        c = ladder.conns[0]
        return (c.crafting_port, c.kernel_port)
    return None


def _named(step: Step, ports: tuple[int, int] | None) -> Step:
    """A step that names its connection: a pipe cannot add the name when a second one comes."""
    return step if step.conn or ports is None else replace(step, conn=f":{ports[0]}")


def _change_key(c: Change) -> tuple[object, ...]:
    return (c.side, c.before, c.after)


@dataclass
class Shown:
    """The steps a pipe has been given, so each refresh hands out only what is new."""

    printed: dict[tuple[StepKey, int], set[tuple[object, ...]]] = field(default_factory=dict)
    waiting: bool = False  # the last ladder had steps that had not settled yet

    def fresh(self, ladder: Ladder, settled: float | None, final: bool = False) -> list[Step]:
        """The steps of `ladder` not handed out yet, up to the last one at or before `settled`
        (the ladder's time; None: none has settled), or all of them when `final`; for a step
        handed out already that has gained a state change since, a step with only that change."""
        steps = list(ladder.steps)
        upto = len(steps) if final else _settled(steps, settled)
        self.waiting = upto < len(steps)
        seen: Counter[StepKey] = Counter()
        out: list[Step] = []
        for step in steps[:upto]:
            ports = _ports(ladder, step)
            key = _key(step, ports)
            at = (key, seen[key])
            seen[key] += 1
            shown = self.printed.get(at)
            changes = {_change_key(c) for c in step.changes}
            if shown is None:
                out.append(_named(step, ports))
            elif changes - shown:
                late = tuple(c for c in step.changes if _change_key(c) not in shown)
                out.append(_named(Step(step.time, step.conn, changes=late), ports))
            else:
                continue
            self.printed[at] = changes | (shown or set())
        return out


def _settled(steps: list[Step], settled: float | None) -> int:
    """How many steps, from the first, have settled: up to the last timed one at or before
    `settled` (untimed steps between are settled with it)."""
    if settled is None:
        return 0
    upto = 0
    for i, step in enumerate(steps):
        if step.time is not None:
            if step.time > settled:
                return upto
            upto = i + 1
    return len(steps)  # nothing after the last settled step is waiting for its time
