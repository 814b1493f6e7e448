"""Checks for lab 11 (the ISN), on what the kernel host saw.

A probe is a half-open connection the kernel made for one of the student's SYNs: the model says the
kernel took the SYN (a new request sock) and its SYN+ACK carries a fresh ISN. The kernel's ISNs are
read from those SYN+ACKs only; what the program printed never counts.
"""

from dataclasses import dataclass

from tcplab.exercise.kit import (
    Checklist,
    Fail,
    NotReached,
    Observation,
    ObservedConn,
    Pass,
    Seen,
)
from tcplab.i18n import N_, _, ngettext
from tcplab.model.flags import Flags
from tcplab.model.seqnum import relative
from tcplab.model.seqnum import signed as signed_diff
from tcplab.model.table import Place

checks = Checklist()

APART = 0.5  # seconds between two SYNs of one port, for the clock to show
TOGETHER = 0.5  # seconds within which the several ports' SYNs count as "at once"
PORTS = 3  # how many ports at once
TICKS = 1e9 / 64  # Linux's ISN clock (secure_tcp_seq: ktime_get_real_ns() >> 6), per second
SYN = Flags.SYN
SYNACK = Flags.SYN | Flags.ACK


@dataclass(frozen=True)
class Probe:
    """One half-open connection: the student's SYN the kernel took, and its SYN+ACK."""

    conn: ObservedConn
    syn: Seen
    synack: Seen

    @property
    def port(self) -> int:
        return self.conn.sport

    @property
    def isn(self) -> int:
        return self.synack.segment.seq

    @property
    def time(self) -> float:
        return self.synack.time


def probes(obs: Observation) -> list[Probe]:
    """Every SYN the kernel took (the model: a new request sock) with the SYN+ACK answering it."""
    out = []
    for conn in obs.attempts():
        for seen in conn.segments:
            if seen.from_kernel or seen.segment.flags != SYN or not conn.accepted(seen):
                continue
            answer = conn.answer(seen)
            synack = conn.seen_of(answer) if answer is not None else None
            if synack is not None and synack.segment.flags == SYNACK:
                out.append(Probe(conn, seen, synack))
    return sorted(out, key=lambda p: p.time)


def _syns(count: int) -> str:
    return ngettext("{n} SYN", "{n} SYNs", count).format(n=count)


def _ports(count: int) -> str:
    return ngettext("{n} port", "{n} ports", count).format(n=count)


def mega(n: float) -> str:
    """A signed count in millions, as feedback shows ISN differences: '+15.6 M'."""
    return f"{n / 1e6:+.1f} M"


def ends_request(conn: ObservedConn, seen: Seen) -> bool:
    """The kernel took this crafted segment and it moved the connection out of SYN_RECEIVED."""
    rec = conn.predicted(seen)
    return conn.accepted(seen) and rec is not None and rec.prediction.place is not Place.REQUEST


@checks.add(
    N_("your SYNs reach the application's port"),
    1,
    hints=(
        N_("send a SYN from lab.sport to lab.dport and look at the kernel's SYN+ACK"),
        N_("a SYN to a listening port makes the kernel answer with its own ISN"),
    ),
    why=N_("each SYN the kernel takes makes it choose an ISN, which its SYN+ACK shows"),
)
def syns_answered(obs: Observation) -> Pass | Fail | NotReached:
    found = probes(obs)
    if found:
        ports = len({p.port for p in found})
        # TRANSLATORS: syns is "{n} SYN(s)", ports is "{n} port(s)"
        return Pass(
            _("{syns} from {ports} answered with a SYN+ACK").format(
                syns=_syns(len(found)), ports=_ports(ports)
            )
        )
    tried = [(c, s) for c in obs.attempts() for s in c.segments if not s.from_kernel]
    syns = [(c, s) for c, s in tried if s.segment.flags == SYN]
    if not syns:
        return NotReached(_("you sent no SYN to the application's port"))
    conn, syn = syns[0]
    return Fail(
        _("your SYN from port {port}: {reaction}").format(
            port=conn.sport, reaction=conn.reaction(syn)
        )
    )


def _at(conn: ObservedConn, seen: Seen) -> int:
    """The position of this very record in the connection's segments."""
    return next(i for i, s in enumerate(conn.segments) if s is seen)


def _unreset(probe: Probe, nxt: Probe | None) -> Fail | None:
    """Fail when this half-open connection was not ended by a segment the kernel took, before the
    next probe on the same port (or the end), or when the kernel had to resend its SYN+ACK."""
    conn = probe.conn
    start = _at(conn, probe.synack) + 1
    after = conn.segments[start : _at(conn, nxt.syn) if nxt is not None else None]
    end = next((s for s in after if not s.from_kernel and ends_request(conn, s)), None)
    resent = [s for s in after if s.from_kernel and s.segment.flags == SYNACK]
    if end is not None and resent and resent[0].time < end.time:
        late = resent[0].time - probe.time
        return Fail(
            _(
                "port {port}: the kernel resent its SYN+ACK {late:.1f} s later, before "
                "your RST; the half-open connection waited too long"
            ).format(port=probe.port, late=late),
            cause="reset",
        )
    if end is not None:
        return None
    rsts = [s for s in after if not s.from_kernel and Flags.RST in s.segment.flags]
    if not rsts:
        return Fail(
            _(
                "port {port}: no RST followed the kernel's SYN+ACK; its half-open "
                "connection stayed in SYN_RECEIVED"
            ).format(port=probe.port),
            cause="reset",
        )
    rst = rsts[0]
    wrong = conn.diagnose(rst, "seq")
    return Fail(
        _("port {port}: your RST: {said}; the kernel kept the half-open connection").format(
            port=probe.port, said=wrong or conn.reaction(rst)
        ),
        cause="reset",
    )


@checks.add(
    N_("each half-open connection is reset, the kernel takes it"),
    2,
    hints=(
        N_("look at your RST and at the kernel's SYN_RECEIVED socket: is it gone after it?"),
        N_("the kernel takes a RST only at the next number it expects from you (RFC 5961)"),
        N_("RST seq = your ISN + 1: your SYN used one number"),
    ),
    why=N_(
        "a half-open connection left behind answers your next SYN from that port with its old "
        "SYN+ACK, and the kernel resends it for a minute"
    ),
    needs=("your SYNs reach the application's port",),
)
def reset(obs: Observation) -> Pass | Fail | NotReached:
    found = probes(obs)
    if not found:
        return NotReached(_("no SYN+ACK: no half-open connection to reset"))
    judged = _measured(found)
    for probe in judged:
        nxt = next((p for p in found if p.conn is probe.conn and p.time > probe.time), None)
        failed = _unreset(probe, nxt)
        if failed is not None:
            return failed
    n = len(judged)
    return Pass(
        ngettext(
            "the {n} half-open connection you measured, reset at once",
            "the {n} half-open connections you measured, reset at once",
            n,
        ).format(n=n)
    )


def _measured(found: list[Probe]) -> list[Probe]:
    """The probes the measurements use (the port measured twice, the ports at once); all of
    them when there are none: other experiments, like leaving one half-open, cost nothing."""
    pair = _pair(found)
    port = pair[1].port if pair is not None else None
    group = _together(found)
    group = group if len(group) >= PORTS else []
    used = [p for p in found if p.port == port or any(p is g for g in group)]
    return used or found


def _stale_syn(obs: Observation) -> NotReached | None:
    """A later SYN of a port the kernel did not take as a new connection: it met the first one."""
    for conn in obs.attempts():
        syns = [s for s in conn.segments if not s.from_kernel and s.segment.flags == SYN]
        for syn in syns[1:]:
            if not conn.accepted(syn):
                return NotReached(
                    _(
                        "port {port}: your SYN at +{after:.3f} s made no new connection: {reaction}"
                    ).format(
                        port=conn.sport,
                        after=syn.time - syns[0].time,
                        reaction=conn.reaction(syn),
                    )
                )
    return None


@checks.add(
    N_("one port, two fresh ISNs, at least 0.5 s apart"),
    4,
    hints=(
        N_("open a second half-open connection from the same port, 0.5 s or more after the first"),
        N_("for one 4-tuple the hash part is the same each time: only the clock moves the ISN"),
        N_("time.sleep(0.7), then half_open(lab.sport) again; (second - first) % 2**32"),
    ),
    why=N_("the same 4-tuple twice isolates the clock part M of RFC 6528"),
    needs=(
        "your SYNs reach the application's port",
        "each half-open connection is reset, the kernel takes it",
    ),
)
def one_port(obs: Observation) -> Pass | Fail | NotReached:
    found = probes(obs)
    if not found:
        return NotReached(_("no SYN+ACK: no ISN to compare"))
    pair = _pair(found)
    if pair is None:
        stale = _stale_syn(obs)
        if stale is not None:
            return stale
        return Fail(_("each of your ports got one fresh ISN: no port was measured twice"))
    gap, first, last = pair
    if gap < APART:
        return Fail(
            _(
                "port {port}: your two fresh ISNs came {gap:.3f} s apart, less than "
                "{apart} s: too short to read the clock well"
            ).format(port=first.port, gap=gap, apart=APART),
            cause="too-soon",
        )
    moved = relative(last.isn, first.isn)
    rate = moved / gap
    return Pass(
        _(
            "port {port}: the kernel's ISN moved {moved} in {gap:.3f} s: "
            "{rate} per second, one per {tick:.1f} ns (Linux: 64 ns)"
        ).format(port=first.port, moved=mega(moved), gap=gap, rate=mega(rate), tick=1e9 / rate)
    )


def _pair(found: list[Probe]) -> tuple[float, Probe, Probe] | None:
    """The port with the longest time between its first and last fresh ISN: (gap, first, last)."""
    pairs = []
    for port in {p.port for p in found}:
        mine = [p for p in found if p.port == port]
        if len(mine) >= 2:
            pairs.append((mine[-1].time - mine[0].time, mine[0], mine[-1]))
    return max(pairs, key=lambda x: x[0], default=None)


def _together(found: list[Probe]) -> list[Probe]:
    """The most ports whose first fresh ISNs fall within TOGETHER seconds: one probe each."""
    best: list[Probe] = []
    for i, start in enumerate(found):
        group: dict[int, Probe] = {}
        for p in found[i:]:
            if p.time - start.time > TOGETHER:
                break
            group.setdefault(p.port, p)
        if len(group) > len(best):
            best = list(group.values())
    return best


@checks.add(
    N_("three ports or more, fresh ISNs within 0.5 s"),
    3,
    hints=(
        N_("open half-open connections from three new ports, lab.new_port(), one after another"),
        N_("a different port is a different 4-tuple: RFC 6528's F hashes it with a secret"),
        N_("for port in (lab.new_port(), lab.new_port(), lab.new_port()): half_open(port)"),
    ),
    why=N_("at the same moment the clock part is the same: what differs is F(4-tuple, secret)"),
    needs=("your SYNs reach the application's port",),
)
def several_ports(obs: Observation) -> Pass | Fail | NotReached:
    found = probes(obs)
    if not found:
        return NotReached(_("no SYN+ACK: no ISN to compare"))
    group = _together(found)
    if len(group) < PORTS:
        ports = len({p.port for p in found})
        n = len(group)
        return Fail(
            ngettext(
                "{n} port got fresh ISNs within {within} s ({all} in all), not {want}",
                "{n} ports got fresh ISNs within {within} s ({all} in all), not {want}",
                n,
            ).format(n=n, within=TOGETHER, all=ports, want=PORTS),
            cause="ports",
        )
    base, rest = group[0], group[1:]
    span = group[-1].time - base.time
    diffs = ", ".join(f"{mega(signed_diff(p.isn, base.isn))}" for p in rest)
    return Pass(
        _(
            "ports {ports} within {span:.0f} ms: the clock adds {clock}, but their ISNs "
            "differ from port {base}'s by {diffs}"
        ).format(
            ports=", ".join(str(p.port) for p in group),
            span=span * 1e3,
            clock=mega(span * TICKS),
            base=base.port,
            diffs=diffs,
        )
    )
