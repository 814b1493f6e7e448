"""Checking a solution: a fresh testbed, the solution run in the crafting namespace, the kernel observed
from the kernel host (its own capture and a sampler of its socket table), then the lab's checks.

The solution's output and exit code are kept for the student but never decide a check.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from tcplab import child_env, defaults
from tcplab.app.protocol import History, Listen
from tcplab.context import LabContext
from tcplab.engine.report import How, NoteRow, Report, SegmentRow, Side, StateRow
from tcplab.engine.session import Session
from tcplab.exercise.catalog import LabDef
from tcplab.exercise.kit import Observation, ObservedConn, Sample, ScoredCheck
from tcplab.exercise.output import JSON_LINES, SHOWN_LINES, ProgramOutput, program_output
from tcplab.exercise.replay import Replay, replay
from tcplab.model.state import State
from tcplab.netns import nft, sysctl
from tcplab.netns.diag import SocketRow, SocketTable
from tcplab.netns.enter import inside
from tcplab.netns.fresh import fresh_testbed
from tcplab.netns.record import TestbedRecord, TestbedSpec, lab_context

SAMPLE_EVERY = 0.001  # sock_diag reads take about as long again


@dataclass
class LabResult:
    lab: LabDef
    solution: Path
    results: list[ScoredCheck]
    report: Report
    exit_code: int | None
    timed_out: bool
    output: str
    sysctls: dict[str, str] = field(default_factory=dict)
    ran: Any = None  # the launcher's own record of the run (a SandboxRun when grading)
    foreign_segments: int = 0

    @property
    def score(self) -> int:
        return sum(r.earned for r in self.results)

    @property
    def max_score(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def stdout(self) -> str:
        return str(getattr(self.ran, "stdout", ""))

    @property
    def stderr(self) -> str:
        return str(getattr(self.ran, "stderr", ""))

    def program_output(self, limit: int = SHOWN_LINES) -> ProgramOutput:
        """What the solution printed, for its author: each stream's last `limit` lines, its
        tracebacks folded to the student's own frames, and what it raised."""
        return program_output(self.stdout, self.stderr, str(self.solution), self.exit_code, limit)

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": self.lab.name,
            "solution": str(self.solution),
            "score": self.score,
            "max_score": self.max_score,
            "full_marks": self.score == self.max_score,
            "checks": [r.to_json() for r in self.results],
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            **self.program_output(JSON_LINES).to_json(),
            "sysctl": self.sysctls,
            "ladder": self.report.to_json(),
        }


class Sampler(threading.Thread):
    """Reads the kernel host's socket table every few milliseconds and keeps each change."""

    def __init__(self, spec: TestbedSpec, ports: set[int]) -> None:
        super().__init__(daemon=True)
        self.spec, self.ports = spec, ports
        self.stop = threading.Event()
        self.history: dict[tuple[int, int], list[Sample]] = {}
        self.listener: list[Sample] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with SocketTable(self.spec.kernel) as table:
                while not self.stop.is_set():
                    self._sample(table.rows())
                    self.stop.wait(SAMPLE_EVERY)
                self._sample(table.rows())
        except BaseException as exc:  # reported by the checker, never lost
            self.error = exc

    def _sample(self, rows: list[SocketRow]) -> None:
        now = time.time()
        seen: set[tuple[int, int]] = set()
        for r in rows:
            sample = Sample(now, r.state, r.timer, r.expires_ms, r.rqueue)
            if r.linux_state == 10:
                if r.sport in self.ports:
                    self._keep(self.listener, sample)
                continue
            if r.dst != self.spec.crafting_addr:
                continue
            key = (r.dport, r.sport)  # (the crafting host's port, the kernel's port)
            seen.add(key)
            self._keep(self.history.setdefault(key, []), sample)
        for key, samples in self.history.items():
            if key not in seen and samples and samples[-1].state is not State.CLOSED:
                samples.append(Sample(now, State.CLOSED, "off", 0, 0))

    @staticmethod
    def _keep(samples: list[Sample], sample: Sample) -> None:
        last = samples[-1] if samples else None
        if last is None or (last.state, last.timer) != (sample.state, sample.timer):
            samples.append(sample)
        else:
            samples[-1] = Sample(
                last.time, last.state, last.timer, sample.expires_ms, sample.rqueue
            )


def _context(lab: LabDef, rec: TestbedRecord, opts: Options) -> LabContext:
    """`lab check`: a random port of ours; grading: the student's own ports and ISN."""
    ctx = lab_context(rec, lab.name, lab.port)
    if opts.ports:
        return replace(ctx, ports=tuple(opts.ports), sport=opts.ports[0], isn=opts.isn)
    return replace(ctx, sport=40000 + int(uuid.uuid4().int % 20000), isn=opts.isn)


class SolutionRun(Protocol):
    """How a solution's run ended, as far as the checks may know (never what it printed), and
    what it printed, for the student."""

    exit_code: int | None
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def output(self) -> str: ...


@dataclass
class LocalRun:
    exit_code: int | None
    timed_out: bool
    stdout: str = ""
    stderr: str = ""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


Launch = Callable[[Path, TestbedSpec, LabContext, float], SolutionRun]


def run_as_root(path: Path, spec: TestbedSpec, ctx: LabContext, limit: float) -> LocalRun:
    """The student's own check: their file, as root, in the crafting namespace (their machine).
    It and all it starts die with `lab check` (tether.py): at the time limit, at the end, and
    when `lab check` itself is killed (at once, or at the next tcplab command for what it forked)."""
    from tcplab.sandbox import tether

    env = child_env(**ctx.to_env())
    with tether.watched(f"check-{uuid.uuid4().hex[:12]}") as watch:
        with inside(spec.crafting):
            proc = subprocess.Popen(
                tether.command([sys.executable, str(path)], watch.procs),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=str(path.parent),
                start_new_session=True,
            )
        try:
            out, err = _texts(proc.communicate(timeout=limit))
            return LocalRun(proc.returncode, False, out, err)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            watch.kill()  # also what left the process group (a daemon holding the output)
            return LocalRun(None, True, *_texts(proc.communicate()))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()


def _texts(streams: tuple[bytes, bytes]) -> tuple[str, str]:
    return streams[0].decode(errors="replace"), streams[1].decode(errors="replace")


@dataclass
class Options:
    """How a check is run: `lab check` uses the defaults; `tcplab grade` sets them all."""

    launch: Launch = run_as_root
    prefix: str = defaults.CHECK_PREFIX  # namespace names: PREFIX + 8 hex digits + -c/-k
    time_limit: float | None = None  # default: the lab's
    pinned: dict[str, str] = field(default_factory=dict)  # sysctls for both namespaces
    isn: int | None = None  # the solution's ISN (grading: the student's own); None: its choice
    ports: list[int] | None = None  # only these crafting ports reach the kernel; others ignored
    pcap: Path | None = None  # write the capture here


def check_solution(lab: LabDef, solution: Path, opts: Options | None = None) -> LabResult:
    """Run `solution` in a fresh, uniquely named testbed and score it with the lab's checks."""
    opts = opts or Options()
    with fresh_testbed(opts.prefix, lab.port, lab.listen) as rec:
        _prepare(lab, rec.spec, opts)
        with Session(rec.spec) as s:
            return _observe(lab, solution, rec.spec, rec, s, opts)


def _prepare(lab: LabDef, spec: TestbedSpec, opts: Options) -> None:
    nft.crafted_only(spec)
    if opts.ports is not None:
        nft.only_ports(spec, opts.ports)
    if opts.pinned:
        sysctl.apply(spec.crafting, opts.pinned)
        sysctl.apply(spec.kernel, opts.pinned)
    if lab.sysctl:
        sysctl.apply(spec.kernel, lab.sysctl)


def _observe(
    lab: LabDef, solution: Path, spec: TestbedSpec, rec: TestbedRecord, s: Session, opts: Options
) -> LabResult:
    for extra in lab.listeners:
        s.app.call(Listen(port=extra.port, backlog=extra.backlog))
    ports = {lab.port, *(x.port for x in lab.listeners)}
    ctx = _context(lab, rec, opts)
    sampler = Sampler(spec, ports)
    sampler.start()
    try:
        ran = opts.launch(solution, spec, ctx, opts.time_limit or lab.time_limit)
        s.drain(0.3)  # late answers (a delayed ACK, a retransmission) still count
    finally:
        sampler.stop.set()
        sampler.join()
    if sampler.error is not None:
        raise sampler.error
    obs, foreign = _observation(s, sampler, ran, opts.ports)
    model = _replay(s, spec, obs, opts.ports)
    results = lab.checklist().run(obs)
    report = _ladder(s, spec, obs, model)
    if opts.pcap is not None:
        s.write_pcap(str(opts.pcap))
    keys = sorted({*opts.pinned, *lab.sysctl})
    values = sysctl.read(spec.kernel, keys) if keys else {}
    return LabResult(
        lab, solution, results, report, ran.exit_code, ran.timed_out, ran.output, values, ran,
        foreign,
    )  # fmt: skip


def _observation(
    s: Session, sampler: Sampler, ran: SolutionRun, allowed: list[int] | None
) -> tuple[Observation, int]:
    """The observation, keeping only connections from `allowed` crafting ports (when given);
    also how many segments came from other ports (the kernel never saw those)."""
    conns: dict[tuple[int, int], ObservedConn] = {}
    seen_ok = []
    foreign = 0
    for seen in s.seen:
        seg = seen.segment
        key = (seg.dport, seg.sport) if seen.from_kernel else (seg.sport, seg.dport)
        if allowed is not None and key[0] not in allowed:
            foreign += 1
            continue
        seen_ok.append(seen)
        if key not in conns:
            conns[key] = ObservedConn(key[0], key[1])
        conns[key].add(seen)
    for key, samples in sampler.history.items():
        if allowed is None or key[0] in allowed:
            conns.setdefault(key, ObservedConn(key[0], key[1])).samples = samples
    ordered = sorted(conns.values(), key=lambda c: c.segments[0].time if c.segments else 1e18)
    obs = Observation(ordered, seen_ok, ran.exit_code, ran.timed_out, sampler.listener)
    return obs, foreign


def _replay(s: Session, spec: TestbedSpec, obs: Observation, allowed: list[int] | None) -> Replay:
    """The exchange replayed through the model, with the application's log of the calls it
    served (asked on its own control socket, never through the grading proxy); the observation
    gets the model's view (each crafted segment's prediction, each kernel segment's cause)."""
    log = s.app.call(History())
    isns = {(c.sport, c.kport): c.iss for c in obs.conns}
    t0 = s.seen[0].time if s.seen else None  # the ladder's first segment, foreign ones too
    sysctls = sysctl.model_sysctls(spec.kernel)
    model = replay(obs.segments, log.events, sysctls, isns, allowed, t0)
    obs.predictions.update(model.explainer.predictions)
    obs.findings.extend(text for _, text in model.findings)
    if log.dropped:
        obs.findings.append(
            f"note: the application's log kept its first {len(log.events)} calls; "
            f"{log.dropped} later ones are not explained"
        )
    return model


def _ladder(s: Session, spec: TestbedSpec, obs: Observation, model: Replay) -> Report:
    """Segments, the kernel's state changes and the model's findings, in the order they
    happened; each segment with the model's prediction (crafted) or its cause (kernel)."""
    report = Report(
        "lab check", f"{spec.crafting} {spec.crafting_addr}", f"{spec.kernel} {spec.kernel_addr}"
    )
    report.conn_isns = {(c.sport, c.kport): (c.iss, c.irs) for c in obs.conns}
    report.predictions = model.explainer.predictions
    report.add_segments(s.unreported())
    events: list[tuple[float, int, SegmentRow | StateRow | NoteRow]] = [
        (row.seen.time, i, row) for i, row in enumerate(report.rows) if isinstance(row, SegmentRow)
    ]
    for when, text in model.findings:
        events.append((when, len(report.rows) + len(events), NoteRow(text)))
    for conn in obs.conns:
        prev: State | None = None
        for sample in conn.samples:
            if prev is not None and sample.state == prev:
                continue
            change = StateRow(
                Side.KERNEL,
                _state(prev),
                _state(sample.state),
                How.OBSERVED,
                f"connection from port {conn.sport}",
            )
            events.append((sample.time, len(events), change))
            prev = sample.state
    report.rows = [row for _, _, row in sorted(events, key=lambda e: (e[0], e[1]))]
    return report


def _state(state: State | None) -> State | None:
    """A sample's state on the ladder: CLOSED there is "no socket"."""
    return None if state is State.CLOSED else state
