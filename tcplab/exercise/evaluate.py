"""A lab's judgement of one recorded run: the observation, the model's replay, the checks, the ladder.

Theory of operation: a Recording (tcplab.exercise.recording) is all the checks may know of a run.
`evaluate` groups its segments into connections (keeping only the crafting ports grading allowed),
replays them with the application's log through tcplab's one TCP model (tcplab.exercise.replay), lets
the lab's Checklist judge the Observation, and lays out the ladder. `lab check`, `tcplab grade` and
the unit tests that score recorded runs all go through here, so the same rules apply everywhere.

Pure: no session, no namespace, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcplab.engine.report import How, NoteRow, Report, SegmentRow, Side, StateRow
from tcplab.exercise.catalog import LabDef
from tcplab.exercise.kit import HintLevel, Judgement, Observation, ObservedConn
from tcplab.exercise.recording import Recording
from tcplab.exercise.replay import Replay, replay
from tcplab.exercise.yourside import follow
from tcplab.i18n import _
from tcplab.model.state import State


@dataclass
class Evaluated:
    judgement: Judgement
    observation: Observation
    model: Replay
    report: Report
    foreign: int  # segments from crafting ports grading did not allow (the kernel never saw them)


def evaluate(lab: LabDef, rec: Recording, level: HintLevel = 1) -> Evaluated:
    obs, foreign = observation(rec)
    model = _replay(rec, obs)
    judgement = lab.checklist().judge(obs, level)
    return Evaluated(judgement, obs, model, _ladder(rec, obs, model), foreign)


def exchange(rec: Recording) -> Report:
    """The ladder's report of a recorded exchange with no lab to judge it (`tcplab watch`): the
    same observation, replay through the model and rows as a lab check's."""
    obs, _ = observation(rec)
    return _ladder(rec, obs, _replay(rec, obs))


def observation(rec: Recording) -> tuple[Observation, int]:
    """The observation, keeping only connections from `rec.allowed` crafting ports (when given);
    also how many segments came from other ports."""
    allowed = rec.allowed
    conns: dict[tuple[int, int], ObservedConn] = {}
    kept = []
    foreign = 0
    for seen in rec.seen:
        key = seen.key  # a forged segment belongs to the connection it claims, as the student's
        if allowed is not None and key[0] not in allowed:
            foreign += 1
            continue
        kept.append(seen)
        if key not in conns:
            conns[key] = ObservedConn(key[0], key[1])
        conns[key].add(seen)
    for key, samples in rec.samples.items():
        if allowed is None or key[0] in allowed:
            conns.setdefault(key, ObservedConn(key[0], key[1])).samples = samples
    ordered = sorted(conns.values(), key=lambda c: c.segments[0].time if c.segments else 1e18)
    obs = Observation(
        ordered,
        kept,
        rec.exit_code,
        rec.timed_out,
        rec.listener,
        ports=frozenset(rec.ports),
        ended=rec.ended,
    )
    return obs, foreign


def _replay(rec: Recording, obs: Observation) -> Replay:
    """The exchange replayed through the model with the application's log of the calls it served;
    the observation gets the model's view (each crafted segment's prediction, each kernel
    segment's cause)."""
    isns = {(c.sport, c.kport): c.iss for c in obs.conns}
    t0 = rec.seen[0].time if rec.seen else None  # the ladder's first segment, foreign ones too
    delivered = [s for s in obs.segments if s.delivered]  # what the kernel's TCP received
    model = replay(delivered, rec.events, rec.sysctls, isns, rec.allowed, t0)
    obs.predictions.update(model.explainer.predictions)
    obs.findings.extend(text for _, text in model.findings)
    obs.refused.extend(model.explainer.refused)
    if rec.dropped:
        obs.findings.append(
            _(
                "note: the application's log kept its first {n} calls; "
                "{dropped} later ones are not explained"
            ).format(n=len(rec.events), dropped=rec.dropped)
        )
    return model


def _ladder(rec: Recording, obs: Observation, model: Replay) -> Report:
    """Segments, both sides' state changes (yours as the model follows them) and the model's
    findings, in the order they happened; each segment with the model's prediction (crafted) or
    its cause (kernel)."""
    report = Report("lab check", rec.hosts[0], rec.hosts[1])
    report.conn_isns = {(c.sport, c.kport): (c.iss, c.irs) for c in obs.conns}
    report.predictions = model.explainer.predictions
    report.add_segments(rec.seen)
    events: list[tuple[float, float, SegmentRow | StateRow | NoteRow]] = [
        (row.seen.time, i, row) for i, row in enumerate(report.rows) if isinstance(row, SegmentRow)
    ]
    for when, text in model.findings:
        events.append((when, len(report.rows) + len(events), NoteRow(text)))
    at = {id(row.seen): i for i, row in enumerate(report.rows) if isinstance(row, SegmentRow)}
    yours = follow([s for s in obs.segments if s.delivered or s.from_kernel])
    for seen, row in yours.rows:  # right after the segment it came with
        events.append((seen.time, at.get(id(seen), len(report.rows)) + 0.5, row))
    for when, text in yours.notes:
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
                _("connection from port {port}").format(port=conn.sport),
                sample.time,
                (conn.sport, conn.kport),
            )
            events.append((sample.time, len(events), change))
            prev = sample.state
    report.rows = [row for _, _, row in sorted(events, key=lambda e: (e[0], e[1]))]
    return report


def _state(state: State | None) -> State | None:
    """A sample's state on the ladder: CLOSED there is "no socket"."""
    return None if state is State.CLOSED else state
