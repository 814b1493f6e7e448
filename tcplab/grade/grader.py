"""Grading a class: find the submissions, run each in its own fresh testbed and sandbox (several at a
time), and turn what the grader observed into an Outcome per student and lab.

Nothing a solution prints, writes or returns decides a check: the lab's checks read only the
grader's own capture on the kernel host and the kernel's socket table. The solution's exit status
and resource use decide the verdict (how it ended), never the score.
"""

from __future__ import annotations

import os
import platform
import signal
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tcplab import __version__, defaults, i18n, text
from tcplab.context import LabContext
from tcplab.errors import TcplabError
from tcplab.exercise.catalog import LabDef, lab_folders, labs_dir
from tcplab.exercise.checker import LabResult, Options, check_solution
from tcplab.exercise.rules import PINNED_SYSCTLS, PORTS_PER_STUDENT, assign, graded_limits
from tcplab.grade import copies
from tcplab.grade.outcome import Outcome, Verdict
from tcplab.grade.proxy import Proxy
from tcplab.grade.submission import NotRun, Submission, prepare
from tcplab.i18n import _
from tcplab.netns.enter import netns_path
from tcplab.netns.record import IFNAME, TestbedSpec
from tcplab.sandbox import runner
from tcplab.sandbox.cgroup import unified
from tcplab.sandbox.jail import LAB_DIR, Job
from tcplab.sandbox.runner import Limits, SandboxRun
from tcplab.sandbox.zygote import Zygote

# the rules a graded run shares with `lab check` live in tcplab.exercise.rules; named here too
__all__ = ["PINNED_SYSCTLS", "PORTS_PER_STUDENT", "Grader", "Settings", "assign", "grade_all"]


@dataclass
class Settings:
    labs: list[LabDef]
    out: Path
    jobs: int = 1
    seed: str = ""
    time_limit: float | None = None  # default: each lab's own
    limits: Limits = field(default_factory=Limits)
    hint_level: int = (
        1  # the hints' tier students get: 1 where to look, 2 the concept, 3 the formula
    )


def judge(ran: SandboxRun, limits: Limits) -> tuple[Verdict, str]:
    """The verdict and its one-line reason, from what the grader measured of the run: the sandbox's
    report, the control group's counters (OOM kills, refused forks, CPU), the timer, the output cap
    and the exit status. What the solution printed never decides a verdict; the last line of its
    stderr is only quoted (cleaned of control characters) in the message of a non-zero exit."""
    if ran.sandbox_error:
        why = text.line(ran.sandbox_error)
        return Verdict.ENVIRONMENT_ERROR, _("the sandbox failed: {why}").format(why=why)
    if ran.usage.oom_kills:
        return Verdict.MEMORY_LIMIT, _("stopped at the memory limit ({mib} MiB)").format(
            mib=limits.memory >> 20
        )
    if ran.timed_out:
        return Verdict.TIME_LIMIT, _("still running after {seconds} s; it was stopped").format(
            seconds=f"{limits.wall_s:g}"
        )
    if ran.signal == signal.SIGXCPU or (
        ran.signal == signal.SIGKILL and ran.usage.cpu_s >= limits.cpu_s
    ):
        return Verdict.TIME_LIMIT, _(
            "used more than {seconds} s of CPU time; it was stopped"
        ).format(seconds=limits.cpu_s)
    if ran.output_capped:
        return Verdict.RUNTIME_ERROR, _("wrote more than {kib} KiB of output").format(
            kib=limits.output >> 10
        )
    forks = (
        _(" ({n} forks refused)").format(n=ran.usage.pids_refused) if ran.usage.pids_refused else ""
    )
    if ran.signal is not None:
        return Verdict.RUNTIME_ERROR, _("killed by signal {signal}{forks}").format(
            signal=_signal_name(ran.signal), forks=forks
        )
    if ran.exit_code:
        last = text.line(ran.stderr.strip().splitlines()[-1] if ran.stderr.strip() else "", 200)
        return Verdict.RUNTIME_ERROR, _("exited with status {status}{forks}: {last}").format(
            status=ran.exit_code, forks=forks, last=last
        )
    return Verdict.SCORED, _("ran to the end")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


# what a jail shows besides its binds (jail.py binds /usr and the top-level links into it)
SHOWN = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def hidden(roots: list[Path], binds: list[str]) -> list[str]:
    """ "hide:PATH" entries for the jail: every labs folder (references, checks) that the jail would
    show, because it lies inside /usr or a bound folder (the venv of a regular install holds
    tcplab/labs). A folder that itself holds a bound one is hidden lab by lab instead."""
    shown = [*SHOWN, *binds]

    def inside(path: str, outer: str) -> bool:
        return path.startswith(outer.rstrip("/") + "/")

    out: set[str] = set()
    for root in roots:
        real = os.path.realpath(root)
        if not any(inside(real, p) for p in shown):
            continue  # not in the jail at all
        if not any(inside(p, real) or p == real for p in shown):
            out.add(real)
            continue
        for lab in lab_folders(Path(real)):
            if any(inside(str(lab), p) for p in shown):
                out.add(str(lab))
    return [f"hide:{p}" for p in sorted(out)]


class Grader:
    """Grades submissions with one zygote; `grade` may run in several threads at once."""

    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        self.settings = settings
        self.stop = stop
        # its start (scapy's import, about a second) overlaps the first testbeds' builds
        self.zygote = Zygote(wait=False)
        self._binds: list[str] | None = None
        self._binds_lock = threading.Lock()

    def ready(self) -> None:
        """Wait for the zygote (EnvironmentProblem if it did not start)."""
        self.zygote.ready()

    def _zygote_ready(self) -> bool:
        """Wait for the zygote; False when the run is stopped first (Ctrl-C while it starts)."""
        while not self.zygote.ready(timeout=0.1):
            if self.stop.is_set():
                return False
        return True

    @property
    def binds(self) -> list[str]:
        """What every jail binds: the zygote's own list, with the labs' folders hidden."""
        with self._binds_lock:
            if self._binds is None:
                self.zygote.ready()
                roots = [labs_dir(), *(lab.dir.parent for lab in self.settings.labs)]
                self._binds = self.zygote.binds + hidden(roots, self.zygote.binds)
            return self._binds

    def close(self) -> None:
        self.zygote.close()

    def environment(self) -> dict[str, Any]:
        return {
            "kernel": platform.release(),
            "tcplab": __version__,
            "python": platform.python_version(),
            "cgroup": "v2" if unified() else "v1",
            "seed": self.settings.seed,
        }

    def grade(self, sub: Submission) -> Outcome:
        """Never raises: whatever one submission is or does becomes its own outcome. A failure of
        the grader becomes an environment error outcome (not charged)."""
        lab = sub.lab
        ports, isn = assign(self.settings.seed, sub.student, lab.name)
        who = sub.who
        base = Outcome(
            sub.student, lab.name, lab.title, Verdict.MISSING, "", 0, 0,
            ports=ports, isn=isn, environment=self.environment(), flags=list(sub.flags),
            name=who.name if who else "", student_id=who.student_id if who else "",
            email=who.email if who else "", id_from=who.id_source if who else "",
        )  # fmt: skip
        try:
            base.max_score = lab.checklist().max_score
            try:
                source = prepare(sub)
            except NotRun as exc:
                return replace(base, verdict=exc.verdict, message=exc.message)
            try:
                flags = copies.flags(source, lab)
            except Exception as exc:  # noqa: BLE001  # a look at the source never stops a run
                flags = [
                    _("not compared with the reference ({error})").format(error=type(exc).__name__)
                ]
            return self._flagged(self._run(sub, base, source), flags)
        except TcplabError as exc:
            return self._broken(base, exc.message)
        except Exception as exc:  # the grader's own failure: recorded, never charged
            return self._broken(base, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _flagged(o: Outcome, flags: list[str]) -> Outcome:
        if not flags:
            return o
        message = _("{message}; flagged: {flags}").format(
            message=o.message, flags=_("; ").join(flags)
        )
        return replace(o, flags=[*o.flags, *flags], message=message)

    @staticmethod
    def _broken(base: Outcome, why: str) -> Outcome:
        return replace(
            base,
            verdict=Verdict.ENVIRONMENT_ERROR,
            score=None,
            message=_("not graded: {why}").format(why=text.line(why, 300)),
        )

    def _limits(self, lab: LabDef) -> Limits:
        return graded_limits(self.settings.time_limit or lab.time_limit, self.settings.limits)

    def _run(self, sub: Submission, base: Outcome, source: bytes) -> Outcome:
        lab, limits = sub.lab, self._limits(sub.lab)
        student_dir = self.settings.out / sub.student
        student_dir.mkdir(parents=True, exist_ok=True)
        pcap = student_dir / f"{lab.name}.pcap"
        opts = Options(
            launch=self._launcher(source, f"{lab.name}.py", limits),
            prefix=defaults.GRADE_PREFIX,
            time_limit=limits.wall_s,
            pinned=PINNED_SYSCTLS,
            isn=base.isn,
            ports=base.ports,
            pcap=pcap,
            hint_level=self.settings.hint_level,
        )
        result = check_solution(lab, Path(f"{lab.name}.py"), opts)
        return self._outcome(base, result, limits, pcap)

    def _outcome(self, base: Outcome, result: LabResult, limits: Limits, pcap: Path) -> Outcome:
        ran: SandboxRun = result.ran
        verdict, message = judge(ran, limits)
        ladder = result.report.capped(pcap.name)
        env = {**base.environment, "sysctl": result.sysctls, "limits": limits.to_json()}
        return replace(
            base,
            verdict=verdict,
            message=message,
            score=None if verdict is Verdict.ENVIRONMENT_ERROR else result.score,
            max_score=result.max_score,
            checks=result.results,
            stdout=text.block(ran.stdout),
            stderr=text.block(ran.stderr),
            exit_code=ran.exit_code,
            signal=ran.signal,
            wall_s=ran.wall_s,
            cpu_s=ran.usage.cpu_s,
            peak_memory=ran.usage.peak_memory,
            foreign_segments=result.foreign_segments,
            port_rule=result.dropped.to_json() if result.dropped else None,
            environment=env,
            ladder=ladder.to_json(),
            report=ladder,
            pcap=str(pcap.relative_to(self.settings.out)) if pcap.exists() else None,
        )

    def _launcher(
        self, source: bytes, filename: str, limits: Limits
    ) -> Callable[[Path, TestbedSpec, LabContext, float], SandboxRun]:
        def launch(_: Path, spec: TestbedSpec, ctx: LabContext, wall: float) -> SandboxRun:
            if not self._zygote_ready():
                return SandboxRun(sandbox_error="stopped before the sandbox started")
            tag = uuid.uuid4().hex[:12]
            with runner.uid_slot() as uid, runner.workspace(tag, uid, source) as ws:
                sock = ws.lab / "app.sock"
                proxy = Proxy(sock, uid, ctx.app_control, spec.crafting_addr)
                try:
                    ctx = replace(ctx, app_control=f"{LAB_DIR}/app.sock")
                    job = self._job(tag, spec, ws, uid, filename, ctx, limits)
                    return runner.run(self.zygote, job, replace(limits, wall_s=wall), self.stop)
                finally:
                    proxy.close()

        return launch

    def _job(
        self,
        tag: str,
        spec: TestbedSpec,
        ws: runner.Workspace,
        uid: int,
        filename: str,
        ctx: LabContext,
        limits: Limits,
    ) -> Job:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/home/student",
            "LANG": "C.UTF-8",
            i18n.LANG_ENV: i18n.language(),  # whatever tcplab says in there speaks the course's
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            **ctx.to_env(),
        }
        return Job(
            tag=tag, netns=netns_path(spec.crafting), cgroup_procs=[], root=str(ws.root),
            solution=str(ws.solution), filename=filename, lab_dir=str(ws.lab), uid=uid, gid=uid,
            iface=IFNAME, env=env, cpu_s=limits.cpu_s, fsize=limits.fsize, nproc=limits.pids,
            binds=self.binds,
        )  # fmt: skip


def grade_all(
    subs: list[Submission],
    settings: Settings,
    stop: threading.Event,
    done: Callable[[Outcome], None],
) -> list[Outcome]:
    """Grade every submission, `settings.jobs` at a time; `done` is called (in this thread) as
    each finishes. When `stop` is set, no new run starts and running ones are ended."""
    grader = Grader(settings, stop)
    outcomes: list[Outcome] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.jobs)) as pool:
            try:
                _drive(pool, grader, subs, settings.jobs, stop, outcomes, done)
            except BaseException:
                stop.set()  # running jobs end now and clean up before the pool is left
                raise
    finally:
        grader.close()
    return outcomes


def _drive(
    pool: ThreadPoolExecutor,
    grader: Grader,
    subs: list[Submission],
    jobs: int,
    stop: threading.Event,
    outcomes: list[Outcome],
    done: Callable[[Outcome], None],
) -> None:
    pending: set[Future[Outcome]] = set()
    queue = list(subs)
    first = True
    while queue or pending:
        while queue and len(pending) < jobs and not stop.is_set():
            pending.add(pool.submit(grader.grade, queue.pop(0)))
        if first:  # the first testbeds are being built; a zygote that cannot start ends the run
            grader.ready()
            first = False
        if not pending:
            return
        finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        for fut in finished:
            outcome = fut.result()
            outcomes.append(outcome)
            done(outcome)
