"""One crafted segment and the kernel's answer, predicted by the model and explained (`tcplab send`).

For a connection left open by `tcplab handshake --keep`, tcplab remembers the ISNs and next sequence
numbers, so the model can predict exact numbers (a challenge ACK's seq and ack, whether a RST is at
rcv_nxt or merely in the window) and the ladder shows relative numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from tcplab import defaults
from tcplab.engine.check import check_answer
from tcplab.engine.report import How, Report, Side
from tcplab.engine.session import Session
from tcplab.engine.target import Target
from tcplab.model.flags import Flags
from tcplab.model.kept import KeptConnection
from tcplab.model.rules import Context, Expectation, expect_answer
from tcplab.model.segment import Segment, parse_options
from tcplab.model.seqnum import seq_add, seq_gt
from tcplab.model.state import State
from tcplab.netns.record import load_connection, save_connection


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
        ctx = Context(state)
        if known is not None:
            ctx = Context(state, snd_nxt=known.rcv_nxt, rcv_nxt=known.snd_nxt, rcv_wnd=known.window)
            report.note(
                f"tcplab knows this connection's numbers from 'handshake --keep': "
                f"kernel snd_nxt {known.rcv_nxt}, rcv_nxt {known.snd_nxt}"
            )
        expected = expect_answer(ctx, seg)
        sent_ns = s.send(seg, echo=True)
        reply = s.next_from_kernel(probe.wait, lambda g: g.dport == sport and g.sport == port)
        if reply is not None:
            report.timing["reply_ms"] = (reply.seen_ns - sent_ns) / 1e6
            s.drain(0.05)  # anything more (a retransmission, a second segment) is shown too
        report.add_segments(s.unreported(), (sport, port))
        if reply is None:
            report.note(f"no reply within {probe.wait:g} s")
        if not expected.predicted:
            report.note(f"not checked: {expected.why}")
        report.checks += check_answer(expected, reply.segment if reply else None, "the segment")
        _after(s, report, state, sport, port, seg, reply.segment if reply else None, known)
        if probe.pcap:
            s.write_pcap(probe.pcap)
        return report, expected


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
