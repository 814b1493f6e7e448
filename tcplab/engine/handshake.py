"""The manual three-way handshake: SYN, the kernel's SYN+ACK, the ACK, each step checked.

The crafting host's states come from the model's transition table (tcplab plays that side); the kernel
host's states are read from its socket table at each step and compared with the table's prediction.
Unless told to keep it, the connection is reset at the end (also after an error or Ctrl-C) with a RST
at exactly the kernel's rcv_nxt, so no connection is left behind.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from tcplab import defaults
from tcplab.app.protocol import ListAccepted
from tcplab.engine.check import check_answer, fact
from tcplab.engine.report import How, Report, Side
from tcplab.engine.seen import Seen
from tcplab.engine.session import Session
from tcplab.engine.target import Target
from tcplab.errors import UsageError
from tcplab.model.flags import Flags
from tcplab.model.kept import KeptConnection
from tcplab.model.rules import Context, expect_answer
from tcplab.model.segment import Option, Segment, parse_options
from tcplab.model.seqnum import seq_add
from tcplab.model.state import State
from tcplab.model.transition import Event, next_state
from tcplab.netns.diag import SocketRow
from tcplab.netns.record import save_connection

DEFAULT_SYN_OPTIONS = "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7"


@dataclass(frozen=True)
class HandshakeOptions:
    sport: int | None = None
    isn: int | None = None
    data: bytes = b""
    options: str | None = None  # None: DEFAULT_SYN_OPTIONS with tcplab's clock as TS val
    keep: bool = False
    timeout: float = defaults.REPLY_WAIT
    quiet: float = 0.05  # how long "no reply" is waited for
    pcap: str | None = None


def _state_of(row: SocketRow | None) -> str:
    return "no socket" if row is None else f"{row.state.value} (ss: {row.ss_state})"


def run_handshake(target: Target, opts: HandshakeOptions) -> Report:
    with Session(target.spec) as s:
        run = _Handshake(s, target, opts)
        try:
            run.go()
        finally:
            run.tidy_up()
            run.report.add_segments(s.unreported(), run.ports)
            if opts.pcap:
                s.write_pcap(opts.pcap)
        return run.report


class _Handshake:
    def __init__(self, s: Session, target: Target, opts: HandshakeOptions) -> None:
        self.s, self.opts, self.port = s, opts, target.port
        self.sport = opts.sport or s.free_port(target.port)
        self.isn = opts.isn if opts.isn is not None else random.randrange(1 << 32)
        self.kisn: int | None = None
        self.established = False
        spec = target.spec
        self.report = Report(
            "handshake",
            f"{spec.crafting} {spec.crafting_addr}:{self.sport}",
            f"{spec.kernel} {spec.kernel_addr}:{self.port}",
            crafting_isn=self.isn,
        )
        row = s.connection(self.sport, self.port)
        if row is not None:
            raise UsageError(
                f"the kernel already has a connection from port {self.sport} to {self.port} "
                f"({row.state.value})",
                "choose another --sport, or leave --sport out to get a free one",
            )

    @property
    def ports(self) -> tuple[int, int]:
        return self.sport, self.port

    def _from_kernel(self, g: Segment) -> bool:
        return g.sport == self.port and g.dport == self.sport

    def _syn_options(self) -> tuple[Option, ...]:
        if self.opts.options is not None:
            return parse_options(self.opts.options)  # the student's own values, TS val too
        ts_val = int(time.monotonic() * 1000) & 0xFFFFFFFF
        return tuple(
            Option("TS", (ts_val, 0)) if o.kind == "TS" else o
            for o in parse_options(DEFAULT_SYN_OPTIONS)
        )

    def go(self) -> None:
        s, report, port = self.s, self.report, self.port
        listener = s.listener(port)
        kstate = State.LISTEN if listener else None
        report.change(
            Side.KERNEL,
            None,
            kstate,
            How.OBSERVED,
            f"port {port} {'has a listener' if listener else 'has no socket'}",
        )
        syn = Segment(
            self.sport,
            port,
            Flags.SYN,
            seq=self.isn,
            window=defaults.WINDOW,
            options=self._syn_options(),
        )
        report.change(
            Side.CRAFTING,
            State.CLOSED,
            next_state(State.CLOSED, Event.APP_CONNECT),
            How.MODEL,
            "the SYN is sent",
        )
        sent_ns = s.send(syn)
        reply = s.next_from_kernel(self.opts.timeout, self._from_kernel)
        report.add_segments(s.unreported(), self.ports)
        expected = expect_answer(Context(kstate), syn)
        report.checks += check_answer(expected, reply.segment if reply else None, "the SYN")
        if reply is None or reply.segment.flags != Flags.SYN | Flags.ACK:
            self._failed_open(reply, kstate)
            return
        report.timing["syn_to_synack_ms"] = (reply.seen_ns - sent_ns) / 1e6
        syn_seen = next((x for x in s.seen if not x.from_kernel and x.segment == syn), None)
        if syn_seen is not None:
            report.timing["kernel_synack_after_syn_ms"] = (reply.time - syn_seen.time) * 1e3
        self._check_synack(syn, reply)
        self.kisn = reply.segment.seq
        report.kernel_isn = self.kisn
        predicted = next_state(State.LISTEN, Event.RECV_SYN)
        row = self.s.wait_state(self.sport, self.port, predicted, 0.1)
        self._state_check(
            "after its SYN+ACK",
            predicted,
            row,
            "RFC 9293 §3.10.7.2",
            "a SYN at a listener makes a half-open connection: a request sock, SYN-RECV in ss",
        )
        report.change(Side.KERNEL, kstate, row.state if row else None, How.OBSERVED)
        self._third_segment(syn, reply, row.state if row else None)

    def _failed_open(self, reply: Seen | None, kstate: State | None) -> None:
        if reply is not None and Flags.RST in reply.segment.flags:
            got = "refused with RST"
            self.report.change(
                Side.CRAFTING, State.SYN_SENT, State.CLOSED, How.MODEL, "RST received"
            )
        else:
            got = "no SYN+ACK" if reply is None else f"answered with {reply.segment.notation()}"
        why = (
            "nothing listens on this port, so the kernel refuses the connection (that RST is "
            "correct TCP, but no handshake can complete)"
            if kstate is None
            else "a listener answers a SYN with SYN+ACK; without it the handshake cannot go on"
        )
        self.report.checks.append(
            fact(
                name="the handshake completes",
                ok=False,
                expected="SYN+ACK",
                observed=got,
                why=why,
                source="RFC 9293 §3.5",
            )
        )

    def _check_synack(self, syn: Segment, reply: Seen) -> None:
        seg = reply.segment
        mss, ws = seg.option("mss"), seg.option("wscale")
        self.report.info.update(
            {
                "kernel_isn": seg.seq,
                "kernel_mss": mss.value if mss else None,
                "kernel_wscale": ws.value if ws else None,
                "kernel_window": seg.window,
                "kernel_sack_permitted": seg.option("sackOK") is not None,
            }
        )
        ours, theirs = syn.timestamps(), seg.timestamps()
        if ours is not None:
            echoed = theirs[1] if theirs else None
            self.report.checks.append(
                fact(
                    name="the SYN+ACK echoes our timestamp",
                    ok=echoed == ours[0],
                    expected=f"TS ecr {ours[0]}",
                    observed="no timestamp" if echoed is None else f"TS ecr {echoed}",
                    why="with timestamps offered in the SYN, the SYN+ACK carries its own TS val "
                    "and echoes ours in TS ecr, which is how each side measures round-trip time",
                    source="RFC 7323 §3",
                )
            )
        self.report.checks.append(
            fact(
                name="the SYN+ACK has a valid checksum",
                ok=reply.checksum_ok,
                expected="valid",
                observed="valid" if reply.checksum_ok else "bad",
                why="tcplab turns checksum offload off on the "
                "testbed's link, so the kernel's segments carry real checksums",
                source="RFC 9293 §3.1",
            )
        )

    def _state_check(
        self, when: str, want: State, row: SocketRow | None, source: str, why: str
    ) -> None:
        self.report.checks.append(
            fact(
                name=f"the kernel's socket is {want.value} {when}",
                ok=row is not None and row.state is want,
                expected=want.value,
                observed=_state_of(row),
                why=why,
                source=source,
            )
        )

    def _third_segment(self, syn: Segment, synack: Seen, kstate: State | None) -> None:
        s, report, opts = self.s, self.report, self.opts
        assert self.kisn is not None
        theirs, ours = synack.segment.timestamps(), syn.timestamps()
        options: tuple[Option, ...] = ()
        if theirs is not None and ours is not None:  # agreed: every segment carries them
            options = (Option("nop"), Option("nop"), Option("TS", (ours[0] + 1, theirs[0])))
        our_ws = syn.option("wscale")
        shift = our_ws.value if our_ws and synack.segment.option("wscale") else 0
        assert isinstance(shift, int)
        ack = Segment(
            self.sport,
            self.port,
            Flags.PSH | Flags.ACK if opts.data else Flags.ACK,
            seq=seq_add(self.isn, 1),
            ack=seq_add(self.kisn, 1),
            window=defaults.WINDOW >> shift,
            options=options,
            payload=opts.data,
        )
        report.change(
            Side.CRAFTING,
            State.SYN_SENT,
            next_state(State.SYN_SENT, Event.RECV_SYN_ACK),
            How.MODEL,
            "the SYN+ACK acknowledges our SYN; the ACK is sent",
        )
        s.send(ack)
        self.established = True  # from here on the kernel may hold a connection to tidy up
        expected = expect_answer(Context(State.SYN_RECEIVED, snd_nxt=seq_add(self.kisn, 1)), ack)
        if expected.silence:
            reply = s.next_from_kernel(opts.quiet, self._from_kernel)
        else:
            reply = s.next_from_kernel(
                opts.timeout, lambda g: self._from_kernel(g) and Flags.ACK in g.flags
            )
        report.add_segments(s.unreported(), self.ports)
        report.checks += check_answer(
            expected, reply.segment if reply else None, "the third segment"
        )
        predicted = next_state(State.SYN_RECEIVED, Event.RECV_ACK)
        row = self.s.wait_state(self.sport, self.port, predicted, 0.2)
        self._state_check(
            "after the ACK",
            predicted,
            row,
            "RFC 9293 §3.10.7.4",
            "the ACK of its SYN completes the kernel's side of the handshake",
        )
        report.change(Side.KERNEL, kstate, row.state if row else None, How.OBSERVED)
        if opts.data and row is not None:
            report.checks.append(
                fact(
                    name="the data waits in the kernel's receive queue",
                    ok=row.rqueue == len(opts.data),
                    expected=f"{len(opts.data)} bytes",
                    observed=f"{row.rqueue} bytes",
                    why="the application has not read yet, so the payload the kernel acknowledged "
                    "is queued",
                    source="RFC 9293 §3.10.7.4 (seventh check)",
                )
            )
        self._check_accepted()
        if opts.keep:
            save_connection(
                s.spec,
                self.sport,
                KeptConnection(
                    iss=self.isn,
                    kisn=self.kisn,
                    snd_nxt=ack.end_seq,
                    rcv_nxt=seq_add(self.kisn, 1),
                    window=synack.segment.window,
                ),
            )
            report.note(
                f"the connection stays open (--keep): see it with "
                f"'tcplab sockets {s.spec.kernel}', probe it with "
                f"'tcplab send --sport {self.sport} ...'"
            )

    def _check_accepted(self) -> None:
        peer = (self.s.spec.crafting_addr, self.sport)
        deadline = time.monotonic() + 0.5
        found = None
        while found is None and time.monotonic() < deadline:
            conns = self.s.app.call(ListAccepted(port=self.port)).connections
            found = next((c for c in conns if c.peer == peer), None)
            if found is None:
                time.sleep(0.005)
        self.report.checks.append(
            fact(
                name="the application accepted the connection",
                ok=found is not None,
                expected="accepted",
                observed="accepted" if found else "not accepted",
                why="the kernel completes the handshake on its own; accept() then hands the "
                "connection to the application",
                source="Linux inet_csk_accept",
            )
        )

    def tidy_up(self) -> None:
        """Reset the connection (unless kept) with a RST at exactly the kernel's rcv_nxt."""
        if self.opts.keep or not self.established:
            return
        rst = Segment(
            self.sport,
            self.port,
            Flags.RST,
            seq=seq_add(self.isn, 1 + len(self.opts.data)),
            window=0,
        )
        self.s.send(rst, echo=True)
        self.report.add_segments(self.s.unreported(), self.ports)
        self.report.note(
            "tidy-up: tcplab reset the connection with a RST at the kernel's rcv_nxt; "
            "use --keep to leave it open"
        )
