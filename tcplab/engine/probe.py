"""One crafted segment and the kernel's answer, predicted by the model and explained (`tcplab send`)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tcplab.engine.check import check_answer
from tcplab.engine.report import Report
from tcplab.engine.session import Session
from tcplab.engine.target import Target
from tcplab.model.rules import Context, Expectation, expect_answer
from tcplab.model.segment import Segment, parse_options
from tcplab.model.state import State


@dataclass(frozen=True)
class Probe:
    flags: str
    sport: int | None = None
    seq: int | None = None
    ack: int = 0
    window: int = 64240
    options: str = ""
    data: bytes = b""
    urgptr: int = 0
    wait: float = 1.0
    pcap: str | None = None


def run_send(target: Target, probe: Probe) -> tuple[Report, Expectation]:
    spec, port = target.spec, target.port
    with Session(spec) as s:
        sport = probe.sport or s.free_port(port)
        seq = probe.seq if probe.seq is not None else random.randrange(1 << 32)
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
        conn = s.connection(sport, port)
        state: State | None
        if conn is not None:
            state = conn.state
            where = f"the connection from port {sport} is {state.value} (ss: {conn.ss_state})"
        elif s.listener(port) is not None:
            state, where = State.LISTEN, f"port {port} has a listener"
        else:
            state, where = None, f"no socket owns port {port}"
        report = Report(
            "send",
            f"{spec.crafting} {spec.crafting_addr}:{sport}",
            f"{spec.kernel} {spec.kernel_addr}:{port}",
            crafting_isn=None,
        )
        report.change("kernel", state, state, "observed", where)
        expected = expect_answer(Context(state), seg)
        sent_ns = s.send(seg)
        reply = s.next_from_kernel(probe.wait, lambda g: g.dport == sport and g.sport == port)
        if reply is not None:
            report.timing["reply_ms"] = (reply.seen_ns - sent_ns) / 1e6
            s.drain(0.05)  # anything more (a retransmission, a second segment) is shown too
        report.sync(s)
        if reply is None:
            report.note(f"no reply within {probe.wait:g} s")
        report.checks += check_answer(expected, reply.segment if reply else None, "the segment")
        if probe.pcap:
            s.write_pcap(probe.pcap)
        return report, expected
