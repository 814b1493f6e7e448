"""The manual three-way handshake: SYN, the kernel's SYN+ACK, the ACK, each step checked.

The crafting host's states come from the model's transition table (tcplab plays that side); the kernel
host's states are read from its socket table at each step and compared with the table's prediction.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from tcplab.engine.check import check_answer, fact
from tcplab.engine.report import Report
from tcplab.engine.session import Seen, Session
from tcplab.engine.target import Target
from tcplab.model.rules import Context, expect_answer
from tcplab.model.segment import Option, Segment, parse_options
from tcplab.model.seqnum import seq_add
from tcplab.model.state import State
from tcplab.model.transition import Event, next_state
from tcplab.netns.diag import SocketRow

DEFAULT_SYN_OPTIONS = "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7"
OUR_WINDOW = 64240
OUR_WSCALE = 7


@dataclass(frozen=True)
class HandshakeOptions:
    sport: int | None = None
    isn: int | None = None
    data: bytes = b""
    options: str = DEFAULT_SYN_OPTIONS
    keep: bool = False
    timeout: float = 1.0
    quiet: float = 0.05  # how long "no reply" is waited for
    pcap: str | None = None


def _with_ts_val(opts: tuple[Option, ...], ts_val: int) -> tuple[Option, ...]:
    return tuple(Option("TS", (ts_val, 0)) if o.kind == "TS" else o for o in opts)


def _wait_state(
    session: Session, sport: int, port: int, want: State, limit: float
) -> SocketRow | None:
    """Poll the kernel's table until the connection is in `want` (or `limit` seconds pass)."""
    deadline = time.monotonic() + limit
    while True:
        row = session.connection(sport, port)
        if (row is not None and row.state is want) or time.monotonic() >= deadline:
            return row
        time.sleep(0.002)


def _state_of(row: SocketRow | None) -> str:
    return "no socket" if row is None else f"{row.state.value} (ss: {row.ss_state})"


def run_handshake(target: Target, opts: HandshakeOptions) -> Report:
    spec, port = target.spec, target.port
    with Session(spec) as s:
        sport = opts.sport or s.free_port(port)
        isn = opts.isn if opts.isn is not None else random.randrange(1 << 32)
        report = Report(
            "handshake",
            f"{spec.crafting} {spec.crafting_addr}:{sport}",
            f"{spec.kernel} {spec.kernel_addr}:{port}",
            crafting_isn=isn,
        )
        _refuse_busy(s, sport, port)
        try:
            _run(s, report, target, opts, sport, isn)
            report.sync(s)
        finally:
            if opts.pcap:
                s.write_pcap(opts.pcap)
        return report


def _refuse_busy(s: Session, sport: int, port: int) -> None:
    row = s.connection(sport, port)
    if row is not None:
        from tcplab.errors import UsageError

        raise UsageError(
            f"the kernel already has a connection from port {sport} to {port} ({row.state.value})",
            "choose another --sport, or leave --sport out to get a free one",
        )


def _run(
    s: Session, report: Report, target: Target, opts: HandshakeOptions, sport: int, isn: int
) -> None:
    port = target.port
    listener = s.listener(port)
    kstate = State.LISTEN if listener else None
    report.change(
        "kernel",
        None,
        kstate,
        "observed",
        f"port {port} {'has a listener' if listener else 'has no socket'}",
    )
    ts_val = int(time.monotonic() * 1000) & 0xFFFFFFFF
    syn_opts = _with_ts_val(parse_options(opts.options), ts_val)
    syn = Segment(sport, port, "S", seq=isn, window=OUR_WINDOW, options=syn_opts)
    cstate = next_state(State.CLOSED, Event.APP_CONNECT)
    report.change("crafting", State.CLOSED, cstate, "model", "the SYN is sent")
    sent_ns = s.send(syn)
    reply = s.next_from_kernel(opts.timeout, lambda g: g.sport == port and g.dport == sport)
    report.sync(s)
    expected = expect_answer(Context(kstate), syn)
    report.checks += check_answer(expected, reply.segment if reply else None, "the SYN")
    if reply is None or reply.segment.flags != "SA":
        _explain_failed_open(report, reply, kstate)
        return
    report.timing["syn_to_synack_ms"] = (reply.seen_ns - sent_ns) / 1e6
    syn_seen = next((x for x in s.seen if not x.from_kernel and "S" in x.segment.flags), None)
    if syn_seen is not None:
        report.timing["kernel_synack_after_syn_ms"] = (reply.time - syn_seen.time) * 1e3
    _check_synack(report, syn, reply)
    kisn = reply.segment.seq
    report.kernel_isn = kisn
    predicted = next_state(State.LISTEN, Event.RECV_SYN)
    row = _wait_state(s, sport, port, predicted, 0.1)
    _state_check(
        report,
        "after its SYN+ACK",
        predicted,
        row,
        "RFC 9293 §3.10.7.2",
        "a SYN at a listener makes a half-open connection: a request sock, SYN-RECV in ss",
    )
    report.change("kernel", State.LISTEN, row.state if row else None, "observed")
    _third_segment(s, report, opts, sport, port, isn, kisn, reply, ts_val)


def _explain_failed_open(report: Report, reply: Seen | None, kstate: State | None) -> None:
    if reply is not None and "R" in reply.segment.flags:
        got = "refused with RST"
        report.change("crafting", State.SYN_SENT, State.CLOSED, "model", "RST received")
    else:
        got = "no SYN+ACK" if reply is None else f"answered with {reply.segment.notation()}"
    why = (
        "nothing listens on this port, so the kernel refuses the connection (that RST is correct "
        "TCP, but no handshake can complete)"
        if kstate is None
        else "a listener answers a SYN with SYN+ACK; without it the handshake cannot go on"
    )
    report.checks.append(
        fact("the handshake completes", False, "SYN+ACK", got, why, "RFC 9293 §3.5")
    )


def _check_synack(report: Report, syn: Segment, reply: Seen) -> None:
    seg = reply.segment
    mss = seg.option("mss")
    ws = seg.option("wscale")
    report.info.update(
        {
            "kernel_isn": seg.seq,
            "kernel_mss": mss.value if mss else None,
            "kernel_wscale": ws.value if ws else None,
            "kernel_window": seg.window,
            "kernel_sack_permitted": seg.option("sackOK") is not None,
        }
    )
    ts_ours = syn.timestamps()
    ts_theirs = seg.timestamps()
    if ts_ours is not None:
        ours = ts_ours[0]
        echoed = ts_theirs[1] if ts_theirs else None
        report.checks.append(
            fact(
                "the SYN+ACK echoes our timestamp",
                echoed == ours,
                f"TS ecr {ours}",
                "no timestamp" if echoed is None else f"TS ecr {echoed}",
                "with timestamps offered in the SYN, the SYN+ACK carries its own TS val and echoes ours "
                "in TS ecr, which is how each side measures round-trip time",
                "RFC 7323 §3",
            )
        )
    report.checks.append(
        fact(
            "the SYN+ACK has a valid checksum",
            reply.checksum_ok,
            "valid",
            "valid" if reply.checksum_ok else "bad",
            "tcplab turns checksum offload off on the lab's link, so the "
            "kernel's segments carry real checksums",
            "RFC 9293 §3.1",
        )
    )


def _state_check(
    report: Report, when: str, want: State, row: SocketRow | None, source: str, why: str
) -> None:
    report.checks.append(
        fact(
            f"the kernel's socket is {want.value} {when}",
            row is not None and row.state is want,
            want.value,
            _state_of(row),
            why,
            source,
        )
    )


def _third_segment(
    s: Session,
    report: Report,
    opts: HandshakeOptions,
    sport: int,
    port: int,
    isn: int,
    kisn: int,
    synack: Seen,
    ts_val: int,
) -> None:
    theirs = synack.segment.timestamps()
    third_opts: tuple[Option, ...] = ()
    if theirs is not None:  # timestamps were agreed: every later segment carries them (RFC 7323)
        third_opts = (Option("nop"), Option("nop"), Option("TS", (ts_val + 1, theirs[0])))
    wscale_ok = synack.segment.option("wscale") is not None
    window = OUR_WINDOW >> OUR_WSCALE if wscale_ok else OUR_WINDOW
    ack = Segment(
        sport,
        port,
        "PA" if opts.data else "A",
        seq=seq_add(isn, 1),
        ack=seq_add(kisn, 1),
        window=window,
        options=third_opts,
        payload=opts.data,
    )
    report.change(
        "crafting",
        State.SYN_SENT,
        next_state(State.SYN_SENT, Event.RECV_SYN_ACK),
        "model",
        "the SYN+ACK acknowledges our SYN; the ACK is sent",
    )
    s.send(ack)
    expected = expect_answer(Context(State.SYN_RECEIVED, snd_nxt=seq_add(kisn, 1)), ack)
    if expected.silence:
        reply = s.next_from_kernel(opts.quiet, lambda g: g.dport == sport)
    else:
        reply = s.next_from_kernel(opts.timeout, lambda g: g.dport == sport and "A" in g.flags)
    report.sync(s)
    report.checks += check_answer(expected, reply.segment if reply else None, "the third segment")
    predicted = next_state(State.SYN_RECEIVED, Event.RECV_ACK)
    row = _wait_state(s, sport, port, predicted, 0.2)
    _state_check(
        report,
        "after the ACK",
        predicted,
        row,
        "RFC 9293 §3.10.7.4",
        "the ACK of its SYN completes the kernel's side of the handshake",
    )
    report.change("kernel", State.SYN_RECEIVED, row.state if row else None, "observed")
    if opts.data and row is not None:
        report.checks.append(
            fact(
                "the data waits in the kernel's receive queue",
                row.rqueue == len(opts.data),
                f"{len(opts.data)} bytes",
                f"{row.rqueue} bytes",
                "the application has not read yet, so the payload the kernel acknowledged is queued",
                "RFC 9293 §3.10.7.4 (seventh check)",
            )
        )
    _check_accepted(s, report, sport, port, opts.keep)


def _check_accepted(s: Session, report: Report, sport: int, port: int, keep: bool) -> None:
    peer = [s.spec.crafting_addr, sport]
    deadline = time.monotonic() + 0.5
    found = None
    while found is None and time.monotonic() < deadline:
        found = next(
            (c for c in s.app.call("accepted", port=port)["connections"] if c["peer"] == peer), None
        )
        if found is None:
            time.sleep(0.005)
    report.checks.append(
        fact(
            "the application accepted the connection",
            found is not None,
            "accepted",
            "accepted" if found else "not accepted",
            "the kernel completes the handshake on its own; accept() then hands the connection to "
            "the application",
            "Linux inet_csk_accept",
        )
    )
    if keep or found is None:
        if keep:
            report.note(
                f"the connection stays open (--keep): see it with 'tcplab sockets {s.spec.kernel}'"
            )
        return
    s.app.call("abort", id=found["id"])
    s.next_from_kernel(0.2, lambda g: "R" in g.flags and g.dport == sport)
    report.sync(s)
    report.note(
        "tidy-up: the application closed the connection abortively (SO_LINGER 0) -> RST; "
        "use --keep to leave it open"
    )
