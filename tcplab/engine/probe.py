"""One crafted segment and the kernel's answer, predicted by the model and explained (`tcplab send`).

The model is an Endpoint (tcplab.model.endpoint) at the state the kernel host shows, with the kernel
host's sysctls, followed by an Explainer (tcplab.engine.explain): it receives the crafted segment as
captured and explains the kernel's answer by it. For a connection left open by `tcplab handshake
--keep` the endpoint is built from the kept numbers (Endpoint.from_kept), so the model predicts exact
numbers (a challenge ACK's seq and ack, whether a RST is at rcv_nxt or merely in the window), the
ladder shows relative numbers, and the numbers saved afterwards are the endpoint's (Endpoint.kept):
tcplab keeps no sequence arithmetic of its own here. The crafted segment, the kernel's answer and
its checks carry the same `prediction` object in --json.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace

from tcplab import defaults
from tcplab.engine.check import check_answer
from tcplab.engine.explain import Explainer, Followed
from tcplab.engine.report import How, Report, Side
from tcplab.engine.seen import Seen
from tcplab.engine.session import Session
from tcplab.engine.target import Target
from tcplab.engine.words import CAUSES, phrase
from tcplab.i18n import _
from tcplab.model.endpoint import Endpoint, Sysctls, place_of
from tcplab.model.flags import Flags
from tcplab.model.kept import KeptConnection
from tcplab.model.segment import Segment, parse_options
from tcplab.model.state import State
from tcplab.netns.record import load_connection, save_connection
from tcplab.netns.sysctl import model_sysctls

# states where a RST's fate depends on rcv_nxt, which tcplab knows only for a kept connection
_SYNCHRONIZED = frozenset(State) - {State.LISTEN, State.SYN_SENT, State.SYN_RECEIVED}


@dataclass(frozen=True)
class Probe:
    flags: Flags
    sport: int | None = None
    seq: int | None = None
    ack: int = 0
    window: int = defaults.WINDOW
    options: str = ""
    data: bytes = b""
    urgptr: int = 0
    wait: float = defaults.REPLY_WAIT
    pcap: str | None = None


def run_send(target: Target, probe: Probe) -> Report:
    spec, port = target.spec, target.port
    with Session(spec) as s:
        sport = probe.sport or s.free_port(port)
        conn = s.connection(sport, port)
        known = load_connection(spec, sport) if conn is not None else None
        if conn is None:
            save_connection(spec, sport, None)  # forget a connection that is gone
        seq = (
            probe.seq
            if probe.seq is not None
            else (known.snd_nxt if known else random.randrange(1 << 32))
        )
        seg = Segment(
            sport,
            port,
            probe.flags,
            seq=seq,
            ack=probe.ack,
            window=probe.window,
            options=parse_options(probe.options),
            payload=probe.data,
            urgptr=probe.urgptr,
        )
        state, where = _situation(s, sport, port)
        report = Report(
            "send",
            f"{spec.crafting} {spec.crafting_addr}:{sport}",
            f"{spec.kernel} {spec.kernel_addr}:{port}",
            crafting_isn=known.iss if known else None,
            kernel_isn=known.kisn if known else None,
        )
        report.change(Side.KERNEL, state, state, How.OBSERVED, where)
        if known is not None:
            report.note(
                _(
                    "tcplab knows this connection's numbers from 'handshake --keep': "
                    "kernel snd_nxt {snd_nxt}, rcv_nxt {rcv_nxt}"
                ).format(snd_nxt=known.rcv_nxt, rcv_nxt=known.snd_nxt)
            )
        sysctls = model_sysctls(spec.kernel)
        model = Explainer(sysctls, report.note)
        report.predictions = model.predictions
        unknown = _unknown(state, known, seg)
        followed = None
        if not unknown:  # the model follows the connection: the segment and the answer
            ep = _endpoint(state, known, s.listener(port) is not None, sysctls)
            followed = model.follow((sport, port), known.iss if known else None, endpoint=ep)
            followed.irs = known.kisn if known else None
        sent_ns = s.send(seg, echo=True)
        reply = s.next_from_kernel(probe.wait, lambda g: g.dport == sport and g.sport == port)
        if reply is not None:
            report.timing["reply_ms"] = (reply.seen_ns - sent_ns) / 1e6
            s.drain(0.05)  # anything more (a retransmission, a second segment) is shown too
        seen = s.unreported()
        report.add_segments(seen, (sport, port))
        model.absorb(seen, lambda _seen: CAUSES[5])
        if reply is None:
            report.note(_("no reply within {wait} s").format(wait=f"{probe.wait:g}"))
        if unknown:
            report.note(_("not checked: {why}").format(why=unknown))
        else:
            _check(report, model, seg, seen, reply)
        model.close()
        _after(s, report, state, sport, port, followed if known else None)
        if probe.pcap:
            s.write_pcap(probe.pcap)
        return report


def _check(
    report: Report, model: Explainer, seg: Segment, seen: list[Seen], reply: Seen | None
) -> None:
    """The kernel's answer against the crafted segment's own prediction; with no answer within
    the wait, the prediction is decided here."""
    mine = next((x for x in seen if not x.from_kernel and x.segment == seg), None)
    pred = model.predictions.get(id(mine)) if mine is not None else None
    if pred is None:
        report.note(_("not checked: the capture did not see the crafted segment"))
        return
    if reply is None:  # a predicted silence held, or a predicted answer never came (a finding)
        model.silence((seg.sport, seg.dport), None, time.time())
    report.checks += check_answer(pred, reply.segment if reply else None, phrase(CAUSES[4]))


def _endpoint(
    state: State | None, known: KeptConnection | None, listener: bool, sysctls: Sysctls
) -> Endpoint:
    """The model's kernel side: from the kept numbers if tcplab has them, else at the state seen."""
    if known is None:
        return Endpoint.seen(state, listener=listener, sysctls=sysctls)
    return replace(Endpoint.from_kept(known, sysctls), place=place_of(state), listener=listener)


def _unknown(state: State | None, known: KeptConnection | None, seg: Segment) -> str:
    """Why the answer is not predicted: it hangs on a number tcplab does not know ('' if none)."""
    if known is not None:
        return ""
    if Flags.RST in seg.flags and state in _SYNCHRONIZED:
        return _("the kernel's rcv_nxt is not known, so the RST's fate is not predicted")
    bare_ack = Flags.ACK in seg.flags and not seg.flags & (Flags.SYN | Flags.RST)
    if bare_ack and state is State.SYN_RECEIVED:
        return _(
            "the kernel's ISN is not known, so whether this ACK acknowledges its SYN is not "
            "predicted"
        )
    return ""


def _situation(s: Session, sport: int, port: int) -> tuple[State | None, str]:
    row = s.connection(sport, port)
    if row is not None:
        return (
            row.state,
            _("the connection from port {sport} is {state} (ss: {ss})").format(
                sport=sport, state=row.state.value, ss=row.ss_state
            ),
        )
    if s.listener(port) is not None:
        return State.LISTEN, _("port {port} has a listener").format(port=port)
    return None, _("no socket owns port {port}").format(port=port)


def _after(
    s: Session,
    report: Report,
    before: State | None,
    sport: int,
    port: int,
    kept: Followed | None,
) -> None:
    """Show the kernel's socket after the segment; a kept connection's numbers are the model's
    endpoint's after it (the crafted segment received, the kernel's answer observed)."""
    row = s.connection(sport, port)
    after = row.state if row else (State.LISTEN if before is State.LISTEN else None)
    report.change(Side.KERNEL, before, after, How.OBSERVED, _("after the segment"))
    if kept is None:
        return
    save_connection(s.spec, sport, kept.endpoint.kept() if row is not None else None)
