"""One crafted segment and the kernel's answer, predicted by the model and explained (`tcplab send`).

The model is an Endpoint (tcplab.model.endpoint) at the state the kernel host shows, with the kernel
host's sysctls. For a connection left open by `tcplab handshake --keep` it is built from the kept
numbers (Endpoint.from_kept), so the model predicts exact numbers (a challenge ACK's seq and ack,
whether a RST is at rcv_nxt or merely in the window) and the ladder shows relative numbers. The crafted
segment and the kernel's answer carry the same `prediction` object in --json.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from tcplab import defaults
from tcplab.engine.check import check_answer
from tcplab.engine.predicted import Predicted
from tcplab.engine.report import How, Report, Side
from tcplab.engine.seen import Seen
from tcplab.engine.session import Session
from tcplab.engine.target import Target
from tcplab.model.endpoint import Endpoint, Sysctls, place_of
from tcplab.model.flags import Flags
from tcplab.model.kept import KeptConnection
from tcplab.model.rules import Expectation, from_prediction
from tcplab.model.segment import Segment, parse_options
from tcplab.model.seqnum import seq_add, seq_gt
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


def run_send(target: Target, probe: Probe) -> tuple[Report, Expectation]:
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
        state, where = _situation(s, conn, sport, port)
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
                f"tcplab knows this connection's numbers from 'handshake --keep': "
                f"kernel snd_nxt {known.rcv_nxt}, rcv_nxt {known.snd_nxt}"
            )
        ep = _endpoint(state, known, s.listener(port) is not None, model_sysctls(spec.kernel))
        unknown = _unknown(state, known, seg)
        pred = None if unknown else Predicted(ep.receive(seg, 0.0), "send", 0.0, crafted=True)
        expected = (
            Expectation("unpredicted", unknown, "", predicted=False)
            if pred is None
            else from_prediction(pred.prediction)
        )
        sent_ns = s.send(seg, echo=True)
        reply = s.next_from_kernel(probe.wait, lambda g: g.dport == sport and g.sport == port)
        if reply is not None:
            report.timing["reply_ms"] = (reply.seen_ns - sent_ns) / 1e6
            s.drain(0.05)  # anything more (a retransmission, a second segment) is shown too
        seen = s.unreported()
        report.add_segments(seen, (sport, port))
        if reply is None:
            report.note(f"no reply within {probe.wait:g} s")
        if not expected.predicted:
            report.note(f"not checked: {expected.why}")
        if pred is not None:
            _decide(report, pred, seg, seen, reply)
        checks = check_answer(expected, reply.segment if reply else None, "the segment")
        report.checks += [replace(c, prediction=pred) for c in checks]
        _after(s, report, state, sport, port, seg, reply.segment if reply else None, known)
        if probe.pcap:
            s.write_pcap(probe.pcap)
        return report, expected


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
        return "the kernel's rcv_nxt is not known, so the RST's fate is not predicted"
    bare_ack = Flags.ACK in seg.flags and not seg.flags & (Flags.SYN | Flags.RST)
    if bare_ack and state is State.SYN_RECEIVED:
        return "the kernel's ISN is not known, so whether this ACK acknowledges its SYN is not predicted"
    return ""


def _decide(
    report: Report, pred: Predicted, seg: Segment, seen: list[Seen], reply: Seen | None
) -> None:
    """Did the kernel do what the model predicted: the crafted segment and the answer carry it."""
    got = reply.segment if reply is not None else None
    agrees = got is None if pred.silence else got is not None and pred.matches(got)
    pred.decide(agrees, got.flags.names if got is not None else "nothing")
    for one in seen:
        if (not one.from_kernel and one.segment == seg) or one is reply:
            report.predictions[id(one)] = pred
    if not agrees:
        report.note(f"finding: {pred.finding()}")


def _situation(s: Session, conn: object, sport: int, port: int) -> tuple[State | None, str]:
    row = s.connection(sport, port)
    if row is not None:
        return (
            row.state,
            f"the connection from port {sport} is {row.state.value} (ss: {row.ss_state})",
        )
    if s.listener(port) is not None:
        return State.LISTEN, f"port {port} has a listener"
    return None, f"no socket owns port {port}"


def _after(
    s: Session,
    report: Report,
    before: State | None,
    sport: int,
    port: int,
    seg: Segment,
    reply: Segment | None,
    known: KeptConnection | None,
) -> None:
    """Show the kernel's socket after the segment; keep a kept connection's numbers current."""
    row = s.connection(sport, port)
    after = row.state if row else (State.LISTEN if before is State.LISTEN else None)
    report.change(Side.KERNEL, before, after, How.OBSERVED, "after the segment")
    if known is None:
        return
    if row is None:
        save_connection(s.spec, sport, None)
        return
    if reply is not None and Flags.ACK in reply.flags:
        known = replace(
            known,
            rcv_nxt=reply.end_seq if seq_gt(reply.end_seq, known.rcv_nxt) else known.rcv_nxt,
            snd_nxt=reply.ack if seq_gt(reply.ack, known.snd_nxt) else known.snd_nxt,
        )
    elif seg.seg_len and seq_gt(seg.end_seq, known.snd_nxt):
        known = replace(known, snd_nxt=seq_add(seg.end_seq, 0))
    save_connection(s.spec, sport, known)
