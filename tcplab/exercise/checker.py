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
from typing import TYPE_CHECKING, Any, Protocol

from tcplab import child_env, defaults
from tcplab.app.protocol import History, Listen
from tcplab.context import LabContext
from tcplab.engine.report import Report
from tcplab.engine.session import Session
from tcplab.exercise.catalog import LabDef
from tcplab.exercise.evaluate import evaluate
from tcplab.exercise.kit import HintLevel, Sample, ScoredCheck
from tcplab.exercise.output import JSON_LINES, SHOWN_LINES, ProgramOutput, program_output
from tcplab.exercise.quiet import QUIET, drain_after
from tcplab.exercise.recording import Recording
from tcplab.exercise.rules import (
    PINNED_SYSCTLS,
    PortsDropped,
    beyond_limits,
    graded_limits,
    own_ports,
    ports_dropped,
)
from tcplab.model.state import State
from tcplab.netns import nft, sysctl
from tcplab.netns.diag import SocketRow, SocketTable
from tcplab.netns.enter import inside, netns_path
from tcplab.netns.fresh import fresh_testbed
from tcplab.netns.record import IFNAME, TestbedRecord, TestbedSpec, lab_context
from tcplab.sandbox.cgroup import Usage

if TYPE_CHECKING:
    from tcplab.sandbox.tether import Watch
    from tcplab.sandbox.warm import WarmStart

SAMPLE_EVERY = 0.001  # sock_diag reads take about as long again
WARM_READY = 60.0  # s: how long a check waits for its warm process to have loaded scapy


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
    judged: str = ""  # which connection a per-connection checklist judged, and what it ignored
    ports: list[int] | None = None  # the crafting ports that reached the kernel (lab.ports)
    dropped: PortsDropped | None = None  # what the port rule kept from the checks
    beyond: list[str] = field(default_factory=list)  # `lab check`: grading's limits it went past

    @property
    def score(self) -> int:
        return sum(r.earned for r in self.results)

    @property
    def max_score(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def stdout(self) -> str:
        """What the program wrote on stdout (a recording scored again has only both at once)."""
        return str(getattr(self.ran, "stdout", self.output))

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
            "judged": self.judged,
            "ports": self.ports,
            "port_rule": self.dropped.to_json() if self.dropped else None,
            "grading_limits": self.beyond,
            "checks": [r.for_students().to_json() for r in self.results],
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
            # a bound socket that is neither listening nor connected is CLOSED here whether it
            # is read or not (see _sample), and leaving it out makes each read ~5 times cheaper
            with SocketTable(self.spec.kernel, bound_inactive=False) as table:
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
            sample = Sample(now, r.state, r.timer, r.expires_ms, r.rqueue, now)
            if r.linux_state == 10:
                last = self.listener[-1] if self.listener else None
                if r.sport in self.ports and (last is None or last.rqueue != r.rqueue):
                    self.listener.append(sample)  # each length of its accept queue (Recv-Q)
                continue
            if r.dst != self.spec.crafting_addr:
                continue
            key = (r.dport, r.sport)  # (the crafting host's port, the kernel's port)
            seen.add(key)
            self._keep(self.history.setdefault(key, []), sample)
        for key, samples in self.history.items():
            if key not in seen and samples and samples[-1].state is not State.CLOSED:
                samples.append(Sample(now, State.CLOSED, "off", 0, 0, now))

    @staticmethod
    def _keep(samples: list[Sample], sample: Sample) -> None:
        last = samples[-1] if samples else None
        if last is None or (last.state, last.timer) != (sample.state, sample.timer):
            samples.append(sample)
        else:
            samples[-1] = Sample(
                last.time, last.state, last.timer, sample.expires_ms, sample.rqueue, sample.read
            )


def _context(lab: LabDef, rec: TestbedRecord, opts: Options) -> LabContext:
    """The solution's own ports (the first is lab.sport) and ISN: drawn for this run by `lab
    check`, the student's own when grading."""
    ctx = lab_context(rec, lab.name, lab.port)
    ports = opts.ports or []
    return replace(ctx, ports=tuple(ports), sport=ports[0] if ports else None, isn=opts.isn)


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
    output_bytes: int = 0
    usage: Usage | None = None  # its control group's counters (None where groups cannot be made)

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
        return _finish(proc, watch, limit)


def _finish(proc: subprocess.Popen[bytes], watch: Watch, limit: float) -> LocalRun:
    """Wait for the program (`limit` s at most), kill its group if still there, and note what it
    used, to compare with grading's limits."""
    try:
        ran = _wait(proc, watch, limit)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    if watch.group is not None:
        ran.usage = watch.group.usage()
    return ran


def run_warm(warm: WarmStart) -> Launch:
    """`run_as_root`, with the program started by `warm` (scapy and the student API already
    loaded, see tcplab/sandbox/warm.py): the same folder, environment, argv, streams, namespace,
    control group, tether and time limit. A cold start where the warm process is not ready or
    the program's folder would shadow a module it has loaded."""

    def launch(path: Path, spec: TestbedSpec, ctx: LabContext, limit: float) -> SolutionRun:
        if not warm.ready(WARM_READY) or warm.shadowed(path.parent):
            warm.close()
            return run_as_root(path, spec, ctx, limit)
        from tcplab.sandbox import tether
        from tcplab.sandbox.warm import Job

        env = child_env(**ctx.to_env())
        with tether.watched(f"check-{uuid.uuid4().hex[:12]}") as watch:
            job = Job(netns_path(spec.crafting), watch.procs, str(path), env, IFNAME)
            return _finish(warm.go(job), watch, limit)

    launch.ready = lambda: warm.ready(WARM_READY)  # type: ignore[attr-defined]
    return launch


def _wait(proc: subprocess.Popen[bytes], watch: Watch, limit: float) -> LocalRun:
    try:
        streams = proc.communicate(timeout=limit)
        return LocalRun(proc.returncode, False, *_texts(streams), _size(streams))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        watch.kill()  # also what left the process group (a daemon holding the output)
        streams = proc.communicate()
        return LocalRun(None, True, *_texts(streams), _size(streams))


def _texts(streams: tuple[bytes, bytes]) -> tuple[str, str]:
    return streams[0].decode(errors="replace"), streams[1].decode(errors="replace")


def _size(streams: tuple[bytes, bytes]) -> int:
    return len(streams[0]) + len(streams[1])


@dataclass
class Options:
    """How a check is run: `lab check` uses the defaults; `tcplab grade` sets them all. The rules
    that decide a score are the same in both (tcplab.exercise.rules): own ports, pinned sysctls."""

    launch: Launch = run_as_root
    prefix: str = defaults.CHECK_PREFIX  # namespace names: PREFIX + 8 hex digits + -c/-k
    time_limit: float | None = None  # default: the lab's
    pinned: dict[str, str] = field(default_factory=lambda: dict(PINNED_SYSCTLS))  # both hosts
    isn: int | None = None  # the solution's ISN (grading: the student's own); None: drawn
    ports: list[int] | None = None  # only these crafting ports reach the kernel; None: drawn
    pcap: Path | None = None  # write the capture here
    record: Path | None = None  # write the Recording (what the checks saw) here, as JSON
    hint_level: HintLevel = 1  # the hints' tier: one for all, or per check title


def check_solution(lab: LabDef, solution: Path, opts: Options | None = None) -> LabResult:
    """Run `solution` in a fresh, uniquely named testbed and score it with the lab's checks."""
    opts = _settled(opts or Options())
    with fresh_testbed(opts.prefix, lab.port, lab.listen) as rec:
        _prepare(lab, rec.spec, opts)
        s = Session(rec.spec)
        try:
            return _observe(lab, solution, rec.spec, rec, s, opts)
        finally:
            _close(s)


def _close(s: Session) -> None:
    """Close the session, its two packet sockets at once: each close waits for an RCU grace
    period (synchronize_net), 10 ms or more."""
    sender = threading.Thread(target=s.sender.close)
    sender.start()
    try:
        s.capture.close()
    finally:
        sender.join()
        s.close()  # the rest (closing a closed socket again does nothing)


def _settled(opts: Options) -> Options:
    """`opts` with its ports and ISN: drawn for this run where not given (as grading does)."""
    if opts.ports and opts.isn is not None:
        return opts
    ports, isn = own_ports()
    return replace(opts, ports=opts.ports or ports, isn=isn if opts.isn is None else opts.isn)


def _prepare(lab: LabDef, spec: TestbedSpec, opts: Options) -> None:
    nft.crafted_only(spec)
    nft.only_ports(spec, opts.ports or [])
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
    ready = getattr(opts.launch, "ready", None)
    if ready is not None:
        ready()  # a warm start's loading ends before the sampler's reads compete with it
    sampler = Sampler(spec, ports)
    sampler.start()
    try:
        ran = opts.launch(solution, spec, ctx, opts.time_limit or lab.time_limit)
        ended = time.time()
        # late answers (a delayed ACK, a retransmission) still count: the link must be quiet for
        # QUIET s, or shown unable to carry anything more by then (for a run of lab check's own,
        # whose processes and calls to the application have all ended)
        drain_after(s, QUIET, isinstance(ran, LocalRun) and not ran.timed_out)
    finally:
        sampler.stop.set()
        sampler.join()
    if sampler.error is not None:
        raise sampler.error
    recording = _recording(lab, spec, s, sampler, ran, opts, ports)
    recording.ended = ended
    if opts.record is not None:
        recording.save(opts.record)
    if opts.pcap is not None:
        s.write_pcap(str(opts.pcap))
    keys = sorted({*opts.pinned, *lab.sysctl})
    values = sysctl.read(spec.kernel, keys) if keys else {}
    result = result_of(lab, solution, recording, opts.hint_level, values, ran)
    if isinstance(ran, LocalRun):  # unsandboxed: what grading's limits would have stopped
        limits = graded_limits(opts.time_limit or lab.time_limit)
        result.beyond = beyond_limits(ran.output_bytes, ran.usage, limits)
    return result


def _recording(
    lab: LabDef,
    spec: TestbedSpec,
    s: Session,
    sampler: Sampler,
    ran: SolutionRun,
    opts: Options,
    ports: set[int],
) -> Recording:
    """All the checks may know of the run; the application's log is asked on its own control
    socket, never through the grading proxy."""
    log = s.app.call(History())
    return Recording(
        lab=lab.name,
        kernel_addr=spec.kernel_addr,
        frames=list(s.frames),
        samples=sampler.history,
        listener=sampler.listener,
        events=list(log.events),
        sysctls=sysctl.model_sysctls(spec.kernel),
        exit_code=ran.exit_code,
        timed_out=ran.timed_out,
        dropped=log.dropped,
        allowed=opts.ports,
        ports=sorted(ports),
        output=ran.output,
        hosts=(f"{spec.crafting} {spec.crafting_addr}", f"{spec.kernel} {spec.kernel_addr}"),
        seen=list(s.seen),
    )


def result_of(
    lab: LabDef,
    solution: Path,
    recording: Recording,
    level: HintLevel = 1,
    sysctls: dict[str, str] | None = None,
    ran: Any = None,
) -> LabResult:
    """The lab's result of a recorded run (live or loaded from a file: the same judgement)."""
    ev = evaluate(lab, recording, level)
    return LabResult(
        lab,
        solution,
        ev.judgement.results,
        ev.report,
        recording.exit_code,
        recording.timed_out,
        recording.output,
        sysctls or {},
        ran,
        ev.foreign,
        ev.judgement.judged_text(),
        recording.allowed,
        ports_dropped(recording),
    )
