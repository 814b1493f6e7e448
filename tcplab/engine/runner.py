"""Running a scenario on a fresh testbed: each step, the kernel observed independently, every mismatch kept.

Theory of operation: the runner plays the crafting host for one or more connections ("conns"), each with
its own port and ISN; seq/ack in the scenario are relative to the ISNs, the kernel's learned from its
first SYN. Each conn has one model Endpoint (tcplab.model.endpoint) built with the kernel host's sysctls
and the listener's backlog; every captured segment goes to it in capture order (a crafted one is
received and predicted, a kernel one observed), and so do the app calls and the timers due at each
capture time. A kernel segment is explained by the open prediction of its own cause (the crafted
segment it answers, the app call, the timer); where the kernel differs, a "finding" note says so. An
expectation that fails is reported with that explanation. Nothing stops at the first mismatch: every
step runs and every difference is listed.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field, replace

from tcplab import defaults
from tcplab.app.protocol import (
    Abort,
    Accept,
    AppError,
    Call,
    Close,
    Connect,
    Connecting,
    Created,
    Done,
    Listen,
    Listening,
    NewConnection,
    OptionValue,
    Received,
    Recv,
    Reply,
    Send,
    Sent,
    SetSockOpt,
    Shutdown,
    Socket,
)
from tcplab.engine import counters, quiet
from tcplab.engine.appexpect import Context, app_checks, received_text
from tcplab.engine.check import Check, fact, match_pattern
from tcplab.engine.explain import Explainer, Followed, Key
from tcplab.engine.predicted import Predicted
from tcplab.engine.report import How, Report, Side
from tcplab.engine.scenario import (
    AppStep,
    CountersStep,
    ExpectStep,
    Link,
    Scenario,
    SendStep,
    SilenceStep,
    SleepStep,
    StateStep,
    Step,
    SysctlStep,
)
from tcplab.engine.seen import Seen
from tcplab.engine.session import Session
from tcplab.engine.words import Said, cause_text, model_text, phrase, said, why_text
from tcplab.errors import DefinitionError, EnvironmentProblem, TcplabError
from tcplab.i18n import N_, _, ngettext
from tcplab.model.endpoint import Endpoint, Sysctls
from tcplab.model.flags import Flags
from tcplab.model.notation import Bases, format_segment, to_options
from tcplab.model.segment import Option, Segment
from tcplab.model.seqnum import seq_add
from tcplab.model.state import LINUX_STATE_NUMBERS, State
from tcplab.model.table import Input
from tcplab.model.text import error_text
from tcplab.netns import counters as kernel_counters
from tcplab.netns import nft, sysctl, topology
from tcplab.netns.diag import SocketRow
from tcplab.netns.fresh import fresh_testbed
from tcplab.netns.record import TestbedRecord, TestbedSpec

DEFAULT_WITHIN = 1.0
STATE_WITHIN = 0.5


@dataclass
class ScenarioConn:
    """One connection of the scenario: the crafting side's port and ISN (the scenario's numbers are
    relative to them), and what the model follows of it."""

    name: str
    sport: int  # the crafting host's port
    kport: int  # the kernel host's port
    iss: int  # the crafting side's ISN: the base of the scenario's seq numbers
    followed: Followed  # the model's endpoint for the kernel's side, its open predictions
    app_id: int | None = None
    last_time: float | None = None
    linger0: bool = False  # SO_LINGER [1, 0] set: close() is an abort
    ts_first: int | None = None  # the kernel's first TS val on the conn: base of `TS val +N`
    ts_last: int | None = None  # its latest: what `ecr echo` sends

    @property
    def key(self) -> Key:
        return self.sport, self.kport

    @property
    def irs(self) -> int | None:
        """The kernel's first ISN: the base of the scenario's ack numbers."""
        return self.followed.irs

    def match(self, seg: Segment) -> bool:
        return seg.sport == self.kport and seg.dport == self.sport

    def mine(self, seg: Segment) -> bool:
        """A segment of this connection, in either direction."""
        return self.match(seg) or (seg.sport == self.sport and seg.dport == self.kport)

    def learn(self, seg: Segment) -> None:
        """A kernel segment on this conn: its TS val (the first one is the base of `TS val +N`)."""
        ts = seg.timestamps()
        if ts is not None:
            self.ts_last = ts[0]
            if self.ts_first is None:
                self.ts_first = ts[0]

    def bases(self) -> Bases:
        """What a crafted segment's SACK edges and `echo`/`+N` timestamps are relative to."""
        return Bases(self.irs or 0, self.ts_first, self.ts_last)


@dataclass
class ScenarioResult:
    scenario: Scenario
    report: Report
    sysctls: dict[str, str] = field(default_factory=dict)
    error: TcplabError | None = None  # the scenario could not run to its end: why
    cut: tuple[int, ...] = ()  # waits that ended once nothing more could come (-1: the drain)

    @property
    def ok(self) -> bool:
        return self.report.ok and self.error is None


def could_not_run(scenario: Scenario, exc: TcplabError | OSError) -> ScenarioResult:
    """The result of a scenario that failed before its runner had a report."""
    return ScenarioResult(scenario, Report(f"run {scenario.name}", "", ""), error=as_error(exc))


def as_error(exc: TcplabError | OSError) -> TcplabError:
    """An OSError from a driver (a send the kernel refused, say) as an environment problem."""
    if isinstance(exc, TcplabError):
        return exc
    return EnvironmentProblem(
        f"{exc.strerror or exc}".lower(), _("run the scenario alone to see where it stopped")
    )


class Stopped(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C in another thread): stop between two steps."""


def run_scenario(
    scenario: Scenario,
    pcap: str | None = None,
    stop: threading.Event | None = None,
    shortcut: bool = True,
) -> ScenarioResult:
    """Build a fresh testbed, run the scenario on it, remove the testbed (whatever happens).
    With `shortcut`, a trailing silence and the final drain end once nothing more can come."""
    with fresh_testbed(defaults.RUN_PREFIX, scenario.port, listen=False) as rec:
        return run_on(rec, scenario, pcap, stop, shortcut)


def run_on(
    rec: TestbedRecord,
    scenario: Scenario,
    pcap: str | None = None,
    stop: threading.Event | None = None,
    shortcut: bool = True,
) -> ScenarioResult:
    """Run the scenario on a fresh testbed built for it (tcplab.engine.batch builds them ahead)."""
    spec = rec.spec
    if scenario.sysctl:
        sysctl.apply(spec.kernel, scenario.sysctl)
    _set_link(spec, scenario.link)
    sysctls = sysctl.model_sysctls(spec.kernel)
    with Session(spec) as session:
        runner = Runner(scenario, spec, session, stop, sysctls, shortcut)
        error: TcplabError | None = None
        try:
            runner.run()
            runner.link_notes()
        except (TcplabError, OSError) as exc:  # this scenario's failure, not the batch's
            error = as_error(exc)
            runner.report.note(_("stopped: {error}").format(error=error.message))
        finally:
            if pcap:
                session.write_pcap(pcap)
        keys = sorted({key for key, _, _ in scenario.sysctl_writes()})
        values = sysctl.read(spec.kernel, keys) if keys else {}
        return ScenarioResult(scenario, runner.report, values, error, tuple(runner.cut))


class Runner:
    def __init__(
        self,
        scenario: Scenario,
        spec: TestbedSpec,
        session: Session,
        stop: threading.Event | None = None,
        sysctls: Sysctls | None = None,
        shortcut: bool = False,
    ) -> None:
        self.stop = stop
        self.shortcut = shortcut  # end waits once nothing more can come (tcplab.engine.quiet)
        self._owed: float | None = None  # monotonic: where a cut silence would have ended
        self._last_call: float | None = None  # time.time() when the last app call returned
        self.cut: list[int] = []  # the lines of the silences that ended once nothing could come
        self.scenario = scenario
        self.spec = spec
        self.s = session
        self.sysctls = sysctls or Sysctls()
        self.conns: dict[str, ScenarioConn] = {}
        self.kstates: dict[tuple[int, int], State | None] = {}  # the kernel's, as last seen
        self.listener: int | None = None
        self._made: set[int] = set()  # sockets `app = "socket"` made, not yet listening/connected
        self._unsent: list[tuple[Segment, SendStep]] = []  # sent, their capture not seen yet
        self._times: dict[int, float] = {}  # a step's line -> when it happened (0: the start)
        self._burst = False  # the next step is a send too: no pause between them
        self.report = Report(
            f"run {scenario.name}",
            f"{spec.crafting} {spec.crafting_addr}",
            f"{spec.kernel} {spec.kernel_addr}",
        )
        if scenario.linux:
            self.report.note(_("Linux and the RFC: {linux}").format(linux=_(scenario.linux)))
        self.model = Explainer(self.sysctls, self.report.note)
        self.report.predictions = self.model.predictions
        self.marks: dict[str, dict[str, int]] = {}  # label -> the counters just before its step
        self._marked = {st.since for st in scenario.steps if isinstance(st, CountersStep)}

    def link_notes(self) -> None:
        """What the scenario's link did: the segments its drop rules lost."""
        if not self.scenario.link.drop:
            return
        for rule, count in nft.dropped(self.spec).items():
            self.report.note(
                ngettext(
                    "the link lost {n} segment(s) by the rule drop {rule}",
                    "the link lost {n} segment(s) by the rule drop {rule}",
                    count,
                ).format(n=count, rule=repr(rule))
            )

    # -- driving -----------------------------------------------------------------------------------
    def run(self) -> None:
        self._mark("start")
        self._times[0] = time.time()
        steps = self.scenario.steps
        for i, step in enumerate(steps):
            if self.stop is not None and self.stop.is_set():
                raise Stopped
            self._mark(step.label)
            started = time.time()
            # back to back: a send followed by a send goes without waiting to see it captured
            self._burst = i + 1 < len(steps) and isinstance(steps[i + 1], SendStep)
            self._catch_up(step)
            self._step(step)
            if isinstance(step, (SendStep, ExpectStep)):  # the capture time, once seen
                self._times.setdefault(step.line, started)
            else:
                self._times[step.line] = started
            self._absorb()
        if not self.scenario.ignore_extra:
            self._extra()
        else:
            self._drain()  # what the kernel still sends, for the model's agreement
        self._absorb()
        self.model.close()

    # -- waits that end once nothing more can come ----------------------------------------------
    def _catch_up(self, step: Step) -> None:
        """Before any step but another silence, the time a cut silence did not wait passes: later
        steps see the kernel's timeline unchanged (rate limits, timestamps, timers of other
        connections; a state's `within` counts from where the silence would have ended, since
        the cut ruled out timers only up to there)."""
        if self._owed is None or isinstance(step, SilenceStep):
            return
        left = self._owed - time.monotonic()
        self._owed = None
        if left > 0:
            time.sleep(left)

    def _quiet_wait(self, conn: ScenarioConn, seconds: float, line: int = 0) -> Seen | None:
        """The conn's next kernel segment within `seconds` (counted from where a cut silence
        before would have ended); None once they pass, or sooner once nothing more can come."""
        now = time.monotonic()
        deadline = max(now, self._owed or now) + seconds
        if not self.shortcut:
            return self.s.next_from_kernel(seconds, conn.match)
        while True:
            if self._nothing_can_come([conn], deadline - time.monotonic()):
                seen = self.s.next_from_kernel(0, conn.match)  # sent before the table was read
                if seen is None:
                    self._owed = deadline
                    self.cut.append(line)
                return seen
            left = deadline - time.monotonic()
            seen = self.s.next_from_kernel(max(0.0, min(left, quiet.POLL)), conn.match)
            if seen is not None:  # the silence ends here, or where a cut one before would have
                return seen
            if left <= quiet.POLL:  # waited to the end
                self._owed = None
                return None

    def _nothing_can_come(self, conns: list[ScenarioConn], left: float) -> bool:
        """Whether none of the conns' sockets can send within `left` s (tcplab.engine.quiet)."""
        self._absorb()
        now = time.time()
        if not quiet.settled(None, self._last_call, now):
            return False
        for conn in conns:
            if any(conn.mine(seg) for seg, _ in self._unsent):
                return False  # a crafted segment not captured yet
            q = quiet.Conn(conn.sport, conn.kport)
            crafted = [s.time for s in self.s.seen if q.crafted(s)]
            if not quiet.settled(crafted[-1] if crafted else None, self._last_call, now):
                return False
            if quiet.owes_ack(q, self.s.seen):
                return False
            rows = self.s.table.find(conn.kport, self.spec.crafting_addr, conn.sport)
            if not quiet.timers_quiet(rows, left):
                return False
        return True

    def _drain(self, quiet_for: float = 0.05) -> list[Seen]:
        """What the kernel sends until it has been quiet for `quiet_for` s after the last step
        (after where a cut silence would have ended); sooner once no conn can send any more."""
        start = max(time.monotonic(), self._owed or 0.0)
        if not self.shortcut:
            return self.s.drain(quiet_for)
        conns = list(self.conns.values())
        out = self.s.drain(0)
        while True:
            left = start + quiet_for - time.monotonic()
            if left <= 0:
                return out
            if self._nothing_can_come(conns, left):
                self.cut.append(-1)  # -1: the final drain
                return out + self.s.drain(0)
            got = self.s.drain(min(left, quiet.POLL))
            out += got
            if got:
                start = time.monotonic()

    def conn(self, name: str) -> ScenarioConn:
        if name not in self.conns:
            index = len(self.conns)
            iss = self.scenario.iss if self.scenario.iss is not None else random.randrange(1 << 32)
            sport = self.scenario.crafting_port + index
            followed = self.model.follow((sport, self.scenario.port), iss)
            self.conns[name] = ScenarioConn(name, sport, self.scenario.port, iss, followed)
        return self.conns[name]

    def _check(self, checks: list[Check]) -> None:
        self.report.checks += checks

    def _step(self, step: Step) -> None:
        """Run one step: what it does depends on its class."""
        match step:
            case AppStep():
                self._app(step)
            case SendStep():
                self._send(step)
            case ExpectStep():
                self._expect(step)
            case SilenceStep():
                self._expect_silence(step)
            case StateStep():
                self._expect_state(step)
            case SleepStep():
                time.sleep(step.seconds)
            case CountersStep():
                self._expect_counters(step)
            case SysctlStep():
                self._sysctl(step)
            case _:
                raise TypeError(f"the runner has no way to run a {type(step).__name__}")

    # -- the application ---------------------------------------------------------------------------
    def _app(self, step: AppStep) -> None:
        conn = self._app_conn(step)
        self._absorb()
        started = time.time()
        ctx = Context(
            step.line,
            step.call.op,
            str(step.args.get("name", "")),
            _(step.why) if step.why else "",
            step.rfc,
            _(step.linux) if step.linux else "",
        )
        try:
            reply, detail = self._app_call(step, conn)
        except AppError as exc:
            self._last_call = time.time()
            self.report.note(
                _("line {line}: app {op} failed: {error}").format(
                    line=step.line, op=step.call.op, error=exc
                )
            )
            self._check(app_checks(ctx, step.expect, exc.reply))
            return
        self._last_call = time.time()
        self.report.note(_("app {op}{detail}").format(op=step.call.op, detail=detail))
        self._check(app_checks(ctx, step.expect, reply))
        self._app_model(step, conn, started, reply)

    def _app_conn(self, step: AppStep) -> ScenarioConn:
        """The conn an app step acts on. A step on the listener (listen, or `target = "listener"`)
        is on no connection: it takes no crafting port, so the conns keep theirs in order."""
        if step.call is not Listen and step.target != "listener":
            return self.conn(step.conn)
        port = self.scenario.port
        return ScenarioConn("listener", 0, port, 0, Followed((0, port), Endpoint(self.sysctls)))

    def _app_model(self, step: AppStep, conn: ScenarioConn, now: float, reply: Reply) -> None:
        """The call, told to the model: what it makes the kernel send is open until seen."""
        req = step.call
        if req is Listen:
            backlog = step.args.get("backlog", defaults.BACKLOG)
            port = step.args.get("port", self.scenario.port)
            self.model.listen(
                port if isinstance(port, int) else self.scenario.port,
                backlog if isinstance(backlog, int) else defaults.BACKLOG,
                now,
                auto_accept=bool(step.args.get("auto_accept", False)),
            )
            return
        if req is Accept:  # each connection taken from the kernel's queue, held ones too
            for _taken in range(reply.taken if isinstance(reply, NewConnection) else 0):
                self.model.accepted(conn.kport)
            return
        if req is Recv:
            self.model.read(conn.key)
            return
        if req is SetSockOpt:
            if step.args.get("name") == "SO_LINGER":  # [1, N > 0]: close() sends FIN, then waits
                conn.linger0 = list(step.args.get("value", ())) == [1, 0]
            return
        inp = _app_input(step, conn.linger0)
        if step.target == "listener" and inp is Input.APP_CLOSE:
            self.model.unlisten(conn.kport)
        if inp is None or step.target == "listener":
            return
        cause = f"line {step.line}: app {req.op}"
        length = reply.sent if isinstance(reply, Sent) else 0
        self.model.app(conn.key, inp, now, cause, length=length)

    def _app_call(self, step: AppStep, conn: ScenarioConn) -> tuple[Reply, str]:
        """Make the step's call on the socket it means; its reply, and what the report says."""
        req = self._request(step, conn)
        reply = self.s.app.call(req)
        return reply, self._app_reply(step, conn, req, reply)

    def _app_reply(self, step: AppStep, conn: ScenarioConn, req: Call[Reply], reply: Reply) -> str:
        """Keep what the reply tells (the socket ids); what the report says of it."""
        match reply:
            case Created():
                self._made.add(reply.id)
                if step.target == "listener":
                    self.listener = reply.id
                else:
                    conn.app_id = reply.id
                return _(" -> socket {id}").format(id=reply.id)
            case Listening():
                self.listener = reply.id
                assert isinstance(req, Listen)
                return _("(port {port}, backlog {backlog})").format(
                    port=req.port, backlog=req.backlog
                )
            case NewConnection():
                conn.app_id = reply.id
                return _(" -> connection from port {port}").format(port=reply.peer[1])
            case Connecting():
                old = conn.key
                conn.app_id, conn.kport = reply.id, reply.local[1]
                self.model.moved(old, conn.key)
                return _("({address}:{sport}) from port {port}").format(
                    address=self.spec.crafting_addr, sport=conn.sport, port=conn.kport
                )
            case Sent():
                return "({})".format(_("{n} bytes").format(n=reply.sent))
            case Received():
                return f" -> {received_text(reply)}"
            case OptionValue():
                return f"({step.args.get('name')}) -> {_info_text(reply)}"
        return _done(req, reply)

    def _request(self, step: AppStep, conn: ScenarioConn) -> Call[Reply]:
        """The step's call with what only the run knows: the listener's port by default, the
        crafting host's address and port to connect to, the id of the socket it acts on."""
        if step.call is Socket:
            return Socket()
        if step.call is Listen:
            made = self._take_made(self.listener)
            return Listen(**{"port": self.scenario.port, "id": made, **step.args})
        if step.call is Connect:
            made = self._take_made(conn.app_id)
            return Connect(addr=self.spec.crafting_addr, port=conn.sport, id=made)
        if step.call is Accept:
            if self.listener is None:
                raise DefinitionError(
                    _("{path}:{line}: accept before listen").format(
                        path=self.scenario.path, line=step.line
                    ),
                    _('add an app = "listen" step first'),
                )
            return Accept(id=self.listener, peer_port=conn.sport, **step.args)
        target = self.listener if step.target == "listener" else conn.app_id
        if target is None:
            raise DefinitionError(
                _(
                    "{path}:{line}: app {op} on {conn}, which the application has no socket for"
                ).format(
                    path=self.scenario.path, line=step.line, op=step.call.op, conn=repr(step.conn)
                ),
                _("accept or connect that conn first"),
            )
        return step.call(**{"id": target, **step.args})

    def _take_made(self, ident: int | None) -> int:
        """The id of a socket `app = "socket"` made for this listen or connect (0: none)."""
        if ident is None or ident not in self._made:
            return 0
        self._made.discard(ident)
        return ident

    # -- segments ----------------------------------------------------------------------------------
    def _send(self, step: SendStep) -> None:
        conn = self.conn(step.conn)
        pat = step.pattern
        assert pat.seq is not None
        ack = 0
        self._absorb()  # the kernel's latest TS val, for `ecr echo`
        if Flags.ACK in pat.flags:
            assert pat.ack is not None
            ack = seq_add(conn.irs or 0, pat.ack)  # absolute while the kernel's ISN is unknown
        seg = Segment(
            conn.sport,
            conn.kport,
            pat.flags,
            seq=seq_add(conn.iss, pat.seq),
            ack=ack,
            window=defaults.WINDOW if pat.window is None else pat.window,
            options=self._options(step, conn),
            payload=step.data,
            urgptr=pat.urgptr or 0,
        )
        self._unsent.append((seg, step))
        self._times.pop(step.line, None)  # a repeated step: this time's capture
        self.s.send(seg, echo=not self._burst, bad_checksum=step.bad_checksum)
        if not self._burst:
            self._absorb()

    def _options(self, step: SendStep, conn: ScenarioConn) -> tuple[Option, ...]:
        """The step's options with the numbers the kernel chose filled in (SACK edges from its
        ISN, `echo` and `+N` from its TS vals)."""
        try:
            return to_options(step.pattern.options or (), conn.bases())
        except ValueError as exc:
            raise DefinitionError(
                f"{self.scenario.path}:{step.line}: {error_text(exc, _)}",
                _("expect a segment with timestamps from the kernel first (its SYN or SYN+ACK)"),
            ) from None

    # -- the model: every captured segment in capture order, each kernel one explained ---------
    def _absorb(self) -> None:
        """The segments captured since the last call: to the ladder, and to the model (a crafted
        one is received and predicted, a kernel one observed and explained by its own cause); each
        conn learns the kernel's TS vals, and the report every conn's ISNs (for relative numbers)."""
        new = self.s.unreported()
        self.report.add_segments(new)
        self.model.absorb(new, self._cause)
        for seen in new:
            for conn in self.conns.values():
                if seen.from_kernel and conn.match(seen.segment):
                    conn.learn(seen.segment)
        self._isns()

    def _isns(self) -> None:
        """Every conn's ISNs to the report: each ladder row and --json segment is shown relative
        to its own conn's (the first conn's are the report's crafting_isn and kernel_isn). Where
        the kernel never chose an ISN (a RST from a closed port), its base is 0: the scenario's
        numbers are absolute there, and so are the relative ones shown."""
        for conn in self.conns.values():
            self.report.conn_isns[conn.key] = (conn.iss, conn.irs or 0)
        first = next(iter(self.conns.values()), None)
        if first is not None:
            self.report.crafting_isn, self.report.kernel_isn = first.iss, first.irs or 0

    def _cause(self, seen: Seen) -> str:
        """A crafted segment's cause: the send step that made it."""
        at = next((i for i, (seg, _) in enumerate(self._unsent) if seg == seen.segment), None)
        if at is None:
            return "a crafted segment"
        line = self._unsent.pop(at)[1].line
        self._times[line] = seen.time
        return f"line {line}: send"

    def _expect(self, step: ExpectStep) -> None:
        conn = self.conn(step.conn)
        pat = step.pattern
        within = step.within or (step.delay[1] + 0.5 if step.delay else DEFAULT_WITHIN)
        seen = self.s.next_from_kernel(within, conn.match)
        self._absorb()
        rec = self.model.silence(conn.key, seen, time.time())  # what explains it, or the silence
        why, source, note = self._explanation(step, rec)
        what = said(N_("the kernel's segment (line {line})"), line=step.line)
        line = f"line {step.line}"  # English in the report (its JSON); the ladder translates it
        if seen is None:
            nothing = _("nothing within {seconds} s").format(seconds=f"{within:g}")
            self.report.expect(line, pat.text, nothing, False)
            self._check(
                [
                    Check(
                        name=what.text,
                        key=what.key,
                        ok=False,
                        expected=pat.text,
                        observed=said(N_("no segment within {seconds} s"), seconds=f"{within:g}"),
                        why=why,
                        source=source,
                        linux_note=note,
                        prediction=rec,
                    )
                ]
            )
            return
        checks = match_pattern(
            pat,
            seen.segment,
            what,
            why=why,
            source=source,
            linux_note=note,
            seq_base=conn.irs or 0,
            ack_base=conn.iss,
            ts_first=conn.ts_first,
        )
        checks = [replace(c, prediction=rec) for c in checks]
        checks += self._timing(step, conn, seen, what, why, source)
        checks += _checksum_checks(step, seen, what)
        conn.last_time = self._times[step.line] = seen.time
        observed = format_segment(seen.segment, conn.irs, conn.iss, conn.ts_first)
        self.report.expect(line, pat.text, observed, all(c.ok for c in checks))
        self._check(checks)

    def _timing(
        self, step: ExpectStep, conn: ScenarioConn, seen: Seen, what: Said, why: str, source: str
    ) -> list[Check]:
        """`delay`: the time since the conn's previous kernel segment, or since the step `from`
        names (its crafted segment's capture, its app call, its segment; "start")."""
        if step.delay is None:
            return []
        if step.since is None:
            since, after = conn.last_time, phrase(N_("the previous one"))
        else:
            since = self._times.get(step.since)
            after = (
                phrase(N_("the start"))
                if step.since == 0
                else said(N_("line {line}"), line=step.since)
            )
        if since is None:
            return []
        gap = seen.time - since
        lo, hi = step.delay
        name = said(
            N_("{what} comes {lo}-{hi} s after {after}"),
            what=what,
            lo=f"{lo:g}",
            hi=f"{hi:g}",
            after=after,
        )
        return [_in_range(name, gap, step.delay, why, source)]

    def _explanation(self, step: ExpectStep, rec: Predicted | None) -> tuple[str, str, str]:
        """The scenario's own words first; else the prediction of the segment's own cause (the
        crafted segment it answers, the app call, the timer), or the finding where they differ."""
        linux = _(step.linux) if step.linux else ""
        if step.why:
            return _(step.why), step.rfc, linux
        if rec is None:
            return _("the scenario expects this segment"), step.rfc, linux
        p = rec.prediction
        rfc = step.rfc or ("" if p.rfc == "-" else p.rfc)
        why = _because(rec) if rec.agrees else rec.finding()
        return why, rfc, linux or model_text(p.linux)

    def _expect_silence(self, step: SilenceStep) -> None:
        conn = self.conn(step.conn)
        seen = self._quiet_wait(conn, step.seconds, step.line)
        self._absorb()
        observed = (
            _("nothing") if seen is None else format_segment(seen.segment, conn.irs, conn.iss)
        )
        ends = time.time() + max(0.0, (self._owed or 0.0) - time.monotonic())
        rec = self.model.silence(conn.key, seen, ends)  # at the end it would have had
        why = _(step.why) if step.why else _("the scenario expects no segment here")
        if rec is not None and not step.why:
            why = _because(rec) if rec.agrees else rec.finding()
        seconds = f"{step.seconds:g}"
        self.report.expect(
            f"line {step.line}",
            _("silence for {seconds} s").format(seconds=seconds),
            observed,
            seen is None,
        )
        self._check(
            [
                fact(
                    name=said(
                        N_("line {line}: no segment from the kernel for {seconds} s"),
                        line=step.line,
                        seconds=seconds,
                    ),
                    ok=seen is None,
                    expected=phrase(N_("nothing")),
                    observed=observed,
                    why=why,
                    source=step.rfc,
                    linux_note=_(step.linux) if step.linux else "",
                    prediction=rec,
                )
            ]
        )

    # -- the kernel's socket -----------------------------------------------------------------------
    def _expect_state(self, step: StateStep) -> None:
        conn = self.conn(step.conn)
        want = step.state
        limit = step.within if step.within is not None else STATE_WITHIN
        row = self.s.wait_state(conn.sport, conn.kport, want, limit)
        got = State.CLOSED if row is None else row.state
        shown = _("CLOSED (no socket)") if row is None else f"{got} (ss: {row.ss_state})"
        what = said(N_("the kernel's socket (line {line})"), line=step.line)
        why = _(step.why) if step.why else _("the scenario expects this state")
        linux = _(step.linux) if step.linux else ""
        checks = [
            fact(
                name=said(N_("{what} is {state}"), what=what, state=want),
                ok=got == want,
                expected=want,
                observed=shown,
                why=why,
                source=step.rfc,
                linux_note=linux,
            )
        ]
        if row is not None:
            checks += self._socket_details(step, row, what, why)
        line = f"line {step.line}"
        wanted = _("state {state}").format(state=want)
        self.report.expect(line, wanted, shown, all(c.ok for c in checks))
        self._seen_state(conn.key, None if row is None else row.state, step.line)
        self._check(checks)

    def _seen_state(self, key: tuple[int, int], state: State | None, line: int) -> None:
        """The kernel's state change its socket table showed, for the ladder's kernel lane."""
        before = self.kstates.get(key)
        if key in self.kstates and before == state:
            return
        self.kstates[key] = state
        note = _("seen in its socket table (line {line})").format(line=line)
        self.report.change(Side.KERNEL, before, state, How.OBSERVED, note, time.time(), key)

    def _socket_details(self, step: StateStep, row: SocketRow, what: Said, why: str) -> list[Check]:
        out = []
        linux = _(step.linux) if step.linux else ""
        if step.timer is not None:
            out.append(
                fact(
                    name=said(N_("{what} has the {timer} timer"), what=what, timer=step.timer),
                    ok=row.timer == step.timer,
                    expected=step.timer,
                    observed=row.timer,
                    why=why,
                    source=step.rfc,
                    linux_note=linux,
                )
            )
        if step.expires is not None:
            lo, hi = step.expires
            name = said(
                N_("{what}'s timer has {lo}-{hi} s left"), what=what, lo=f"{lo:g}", hi=f"{hi:g}"
            )
            left = row.expires_ms / 1000
            out.append(_in_range(name, left, step.expires, why, step.rfc, linux))
        for field_name, want in (
            ("rqueue", step.rqueue),
            ("wqueue", step.wqueue),
            ("retrans", step.retrans),
        ):
            if want is not None:
                got = getattr(row, field_name)
                out.append(
                    fact(
                        name=said(
                            N_("{what}'s {field} is {want}"), what=what, field=field_name, want=want
                        ),
                        ok=got == want,
                        expected=want,
                        observed=got,
                        why=why,
                        source=step.rfc,
                        linux_note=linux,
                    )
                )
        return out

    # -- the kernel host's counters and sysctls ------------------------------------------------------
    def _counters(self) -> dict[str, int]:
        return counters.parse(*kernel_counters.read_texts(self.spec.kernel))

    def _mark(self, label: str) -> None:
        """The counters now, kept under `label` if a later expect_counters step needs them."""
        if label and label in self._marked:
            self.marks[label] = self._counters()

    def _expect_counters(self, step: CountersStep) -> None:
        """Each counter's increase since the mark, read again until all hold or `within` ends."""
        self._absorb()
        before, names = self.marks[step.since], sorted(step.expect)
        deadline = time.monotonic() + step.within
        while True:
            got = counters.deltas(before, self._counters(), names)
            if all(step.expect[n].holds(got[n]) for n in names) or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        since = (
            phrase(N_("the start"))
            if step.since == "start"
            else said(N_("step {step}"), step=repr(step.since))
        )
        why = _(step.why) if step.why else _("the scenario expects the kernel to count this")
        checks = [
            fact(
                name=said(
                    N_("line {line}: {counter} went up by {by} since {since}"),
                    line=step.line,
                    counter=n,
                    by=str(step.expect[n]),
                    since=since,
                ),
                ok=step.expect[n].holds(got[n]),
                expected=f"{n} +{step.expect[n]}",
                observed=f"{n} +{got[n]}",
                why=why,
                source=step.rfc,
                linux_note=_(step.linux) if step.linux else "",
            )
            for n in names
        ]
        shown = ", ".join(f"{n} +{got[n]}" for n in names)
        wanted = ", ".join(f"{n} +{step.expect[n]}" for n in names)
        line = f"line {step.line}"
        self.report.expect(line, wanted, shown, all(c.ok for c in checks))
        self._check(checks)

    def _sysctl(self, step: SysctlStep) -> None:
        """Write the sysctls in the kernel host; the model predicts with them from here on."""
        self._absorb()
        sysctl.apply(self.spec.kernel, step.values)
        self.sysctls = sysctl.model_sysctls(self.spec.kernel)
        self.model.sysctls = self.sysctls
        for followed in self.model.conns.values():
            followed.endpoint.sysctls = self.sysctls
        shown = ", ".join(f"{k} = {v}" for k, v in step.values.items())
        self.report.note(_("line {line}: sysctl {values}").format(line=step.line, values=shown))

    def _extra(self) -> None:
        """Segments the kernel sent on a scenario's connection that no step expected."""
        extra = self._drain()
        self._absorb()
        for seen in extra:
            conn = next((c for c in self.conns.values() if c.match(seen.segment)), None)
            if conn is None:
                continue
            shown = format_segment(seen.segment, conn.irs, conn.iss)
            rec = self.report.predictions.get(id(seen))
            self._check(
                [
                    fact(
                        name=phrase(N_("the kernel sends nothing no step expected")),
                        ok=False,
                        expected=phrase(N_("nothing")),
                        observed=said(N_("{segment} (conn {conn})"), segment=shown, conn=conn.name),
                        why=_(
                            "every segment the kernel sends "
                            "must be expected by a step; add an expect step, or "
                            "ignore_extra = true"
                        ),
                        prediction=rec,
                    )
                ]
            )


def _set_link(spec: TestbedSpec, link: Link) -> None:
    """The scenario's link settings, on a fresh testbed (they go with its namespaces)."""
    if link.offloads or link.mtu is not None:
        topology.set_link(spec, link.offloads, link.mtu)
    nft.drop_kernel(spec, list(link.drop))


def _checksum_checks(step: ExpectStep, seen: Seen, what: Said) -> list[Check]:
    """`checksum`: the kernel's segment as captured carries a valid sum, or a partial one (the
    pseudo-header's only, with tx checksum offload on)."""
    if step.checksum is None:
        return []
    got = "valid" if seen.checksum_ok else "partial" if seen.checksum_partial else "bad"
    kinds = {"valid": N_("valid"), "partial": N_("partial"), "bad": N_("bad")}
    default_why = (
        _("with tx checksum offload off the kernel fills in the checksum itself")
        if step.checksum == "valid"
        else _(
            "with tx checksum offload on the device finishes the sum: the capture "
            "on the sending host sees the pseudo-header's sum only"
        )
    )
    return [
        fact(
            name=said(N_("{what} has a {kind} checksum"), what=what, kind=phrase(step.checksum)),
            ok=got == step.checksum,
            expected=phrase(kinds.get(step.checksum, step.checksum)),
            observed=phrase(kinds[got]),
            why=_(step.why) if step.why else default_why,
            source=step.rfc or "RFC 9293 §3.1",
            linux_note=_(step.linux) if step.linux else "",
        )
    ]


def _in_range(
    name: Said, seconds: float, bounds: tuple[float, float], why: str, source: str, note: str = ""
) -> Check:
    """A time within [lo, hi] seconds, shown to the millisecond."""
    lo, hi = bounds
    return fact(
        name=name,
        ok=lo <= seconds <= hi,
        expected=f"{lo:g}-{hi:g} s",
        observed=f"{seconds:.3f} s",
        why=why,
        source=source,
        linux_note=note,
    )


def _app_input(step: AppStep, linger0: bool) -> Input | None:
    """The model's input for an application call that makes the kernel send (None: no segment)."""
    if step.call is Connect:
        return Input.APP_CONNECT
    if step.call is Abort or (step.call is Close and linger0):
        return Input.APP_ABORT
    if step.call is Close:
        return Input.APP_CLOSE
    if step.call is Shutdown and str(step.args.get("how", "")).lower() in ("wr", "rdwr"):
        return Input.APP_SHUTDOWN
    if step.call is Send:
        return Input.APP_SEND
    return None


def _info_text(reply: OptionValue) -> str:
    """getsockopt's or ioctl's value; for TCP_INFO its state and a few fields."""
    info = reply.info
    if info is None:
        return received_text(reply)
    state = LINUX_STATE_NUMBERS.get(info.state, info.state)
    return (
        f"state {state}, retransmits {info.retransmits}, rto {info.rto} us, snd_mss "
        f"{info.snd_mss}, rcv_mss {info.rcv_mss}, unacked {info.unacked}"
    )


def _because(rec: Predicted) -> str:
    """The model's why for a segment it predicted, with the cause it answers."""
    return _("{why} (cause: {cause})").format(
        why=why_text(rec.prediction), cause=cause_text(rec.cause)
    )


def _done(req: Call[Reply], reply: Reply) -> str:
    """What the report says of a call that returns nothing but success."""
    assert isinstance(reply, Done), reply
    match req:
        case Shutdown():
            return f"({req.how})"
        case SetSockOpt():
            return f"({req.name} = {req.value})"
    return ""  # close, abort
