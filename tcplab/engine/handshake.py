"""The manual three-way handshake: SYN, the kernel's SYN+ACK, the ACK, each step checked.

Both sides come from tcplab's one TCP model (tcplab.model.table). The kernel's side is an Explainer
(tcplab.engine.explain) following the connection from the listener or the missing socket the socket
table shows, with the kernel host's sysctls: every crafted segment gets its prediction, and every
kernel segment is explained by its own cause (the SYN+ACK by the SYN, a retransmitted SYN+ACK by its
timer). The crafting side, which tcplab plays, is a second Endpoint: connect() puts it in SYN_SENT,
the kernel's SYN+ACK takes it to ESTABLISHED and gives the ACK it sends (its numbers too). The kernel
host's states are read from its socket table at each step and compared with the model's place.
Unless told to keep it, the connection is reset at the end (also after an error or Ctrl-C) with a RST
at the crafting side's snd_nxt, which is the kernel's rcv_nxt once it took what we sent, so no
connection is left behind; `--keep` saves the kernel endpoint's numbers for `tcplab send`.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from tcplab import defaults
from tcplab.app.protocol import ListAccepted
from tcplab.engine import quiet
from tcplab.engine.check import check_answer, fact
from tcplab.engine.explain import Explainer, Followed
from tcplab.engine.predicted import Predicted
from tcplab.engine.report import How, Report, Side
from tcplab.engine.seen import Seen
from tcplab.engine.session import Session
from tcplab.engine.target import Target
from tcplab.engine.words import CAUSES, Said, phrase, said, why_text
from tcplab.errors import UsageError
from tcplab.i18n import N_, _
from tcplab.model.endpoint import Endpoint, Prediction
from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment, parse_options
from tcplab.model.state import State
from tcplab.model.table import Input
from tcplab.netns.diag import SocketRow
from tcplab.netns.record import save_connection
from tcplab.netns.sysctl import model_sysctls

DEFAULT_SYN_OPTIONS = "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7"
THE_SYN, THIRD = CAUSES[0], CAUSES[1]  # the causes of the crafted segments (English, marked)


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


POLL = 0.002  # seconds between two reads of the socket table while waiting for it
GRACE = 0.001  # the capture's last look once the table shows nothing more can come


def _settled(row: SocketRow | None, want: State, ack_owed: bool) -> bool:
    """The connection is in state `want` with no timer armed, nothing retransmitted, nothing in
    its send queue and no ACK owed: the kernel has nothing scheduled to send (tcplab.engine.quiet,
    stricter: no timer at all, whenever it would fire)."""
    return (
        row is not None
        and row.state is want
        and row.retrans == 0
        and quiet.next_timer([row], math.inf) is None
        and not ack_owed
    )


def _state_of(row: SocketRow | None) -> str:
    return _("no socket") if row is None else f"{row.state.value} (ss: {row.ss_state})"


def run_handshake(target: Target, opts: HandshakeOptions) -> Report:
    with Session(target.spec) as s:
        run = _Handshake(s, target, opts)
        try:
            run.go()
        finally:
            run.tidy_up()
            if opts.pcap:
                s.write_pcap(opts.pcap)
        return run.report


class _Handshake:
    def __init__(self, s: Session, target: Target, opts: HandshakeOptions) -> None:
        self.s, self.opts, self.port = s, opts, target.port
        self.sport = opts.sport or s.free_port(target.port)
        self.isn = opts.isn if opts.isn is not None else random.randrange(1 << 32)
        self.opened = False  # the SYN has left: from here on the kernel may hold a connection
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
                _(
                    "the kernel already has a connection from port {sport} to {port} ({state})"
                ).format(sport=self.sport, port=self.port, state=row.state.value),
                _("choose another --sport, or leave --sport out to get a free one"),
            )
        self.model = Explainer(model_sysctls(spec.kernel), self.report.note)
        self.report.predictions = self.model.predictions
        self.me = Endpoint()  # the crafting side, which tcplab plays
        self._causes: list[tuple[Segment, str]] = []  # crafted, their capture not absorbed yet
        self.kernel: Followed | None = None

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

    # ---- the model: crafted segments predicted, kernel segments explained, in capture order ----

    def _send(self, seg: Segment, cause: str, echo: bool = False) -> int:
        self._causes.append((seg, cause))
        return self.s.send(seg, echo=echo)

    def _absorb(self) -> None:
        new = self.s.unreported()
        self.report.add_segments(new, self.ports)
        self.model.absorb(new, self._cause)

    def _cause(self, seen: Seen) -> str:
        at = next((i for i, (seg, _) in enumerate(self._causes) if seg == seen.segment), None)
        return CAUSES[3] if at is None else self._causes.pop(at)[1]

    def _prediction(self, seg: Segment) -> Predicted | None:
        """The prediction of a crafted segment the capture saw."""
        seen = next((x for x in self.s.seen if not x.from_kernel and x.segment == seg), None)
        return None if seen is None else self.model.predictions.get(id(seen))

    def _answer(self, seg: Segment, reply: Seen | None, what: Said) -> None:
        """Check the kernel's answer to a crafted segment against that segment's prediction."""
        if reply is None:  # decide a predicted silence, or a predicted segment that never came
            self.model.silence(self.ports, None, time.time())
        pred = self._prediction(seg)
        if pred is None:
            self.report.note(_("not checked: the capture did not see {what}").format(what=what))
            return
        self.report.checks += check_answer(pred, reply.segment if reply else None, what)

    def _crafting(self, act: Prediction, why: str, before: State) -> None:
        """The crafting side's change of state, as its endpoint made it."""
        self.report.change(Side.CRAFTING, before, act.place.state, How.MODEL, why)

    # ---- the steps ----

    def go(self) -> None:
        s, report, port = self.s, self.report, self.port
        listener = s.listener(port)
        kstate = State.LISTEN if listener else None
        if listener is not None:  # a LISTEN socket's write queue in sock_diag is its backlog
            backlog = listener.wqueue or defaults.BACKLOG
            self.model.listen(port, backlog, time.time(), auto_accept=True)
        self.kernel = self.model.follow(self.ports, self.isn)
        report.change(
            Side.KERNEL,
            None,
            kstate,
            How.OBSERVED,
            (
                _("port {port} has a listener") if listener else _("port {port} has no socket")
            ).format(port=port),
        )
        syn = Segment(
            self.sport,
            port,
            Flags.SYN,
            seq=self.isn,
            window=defaults.WINDOW,
            options=self._syn_options(),
        )
        before = self.me.place.state
        self._crafting(self.me.call(Input.APP_CONNECT, time.time()), _("the SYN is sent"), before)
        self.me.observe(syn)  # our ISN is tcplab's choice: the endpoint learns it from the SYN
        self.opened = True  # a SYN+ACK may be on its way: a request sock to tidy up (Ctrl-C)
        sent_ns = self._send(syn, THE_SYN)
        reply = s.next_from_kernel(self.opts.timeout, self._from_kernel)
        self._absorb()
        self._answer(syn, reply, phrase(THE_SYN))
        if reply is None or reply.segment.flags != Flags.SYN | Flags.ACK:
            self._failed_open(reply, kstate)
            return
        report.timing["syn_to_synack_ms"] = (reply.seen_ns - sent_ns) / 1e6
        syn_seen = next((x for x in s.seen if not x.from_kernel and x.segment == syn), None)
        if syn_seen is not None:
            report.timing["kernel_synack_after_syn_ms"] = (reply.time - syn_seen.time) * 1e3
        self._check_synack(syn, reply)
        report.kernel_isn = self.kernel.endpoint.iss
        predicted = self.kernel.endpoint.place.state
        row = self.s.wait_state(self.sport, self.port, predicted, 0.1)
        self._state_check(
            N_("the kernel's socket is {state} after its SYN+ACK"),
            predicted,
            row,
            "RFC 9293 §3.10.7.2",
            _("a SYN at a listener makes a half-open connection: a request sock, SYN-RECV in ss"),
        )
        report.change(Side.KERNEL, kstate, row.state if row else None, How.OBSERVED)
        self._third_segment(syn, reply, row.state if row else None)

    def _failed_open(self, reply: Seen | None, kstate: State | None) -> None:
        self.opened = False  # refused or unanswered: the kernel holds nothing to reset
        if reply is not None and Flags.RST in reply.segment.flags:
            got = _("refused with RST")
            before = self.me.place.state
            self._crafting(self.me.receive(reply.segment, reply.time), _("RST received"), before)
        else:
            got = (
                _("no SYN+ACK")
                if reply is None
                else _("answered with {segment}").format(segment=reply.segment.notation())
            )
        why = (
            _(
                "nothing listens on this port, so the kernel refuses the connection (that RST is "
                "correct TCP, but no handshake can complete)"
            )
            if kstate is None
            else _("a listener answers a SYN with SYN+ACK; without it the handshake cannot go on")
        )
        self.report.checks.append(
            fact(
                name=phrase(N_("the handshake completes")),
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
        pred = self._prediction(syn)  # what explains the SYN+ACK: the SYN
        ours, theirs = syn.timestamps(), seg.timestamps()
        if ours is not None:
            echoed = theirs[1] if theirs else None
            self.report.checks.append(
                fact(
                    name=phrase(N_("the SYN+ACK echoes our timestamp")),
                    ok=echoed == ours[0],
                    expected=f"TS ecr {ours[0]}",
                    observed=phrase(N_("no timestamp")) if echoed is None else f"TS ecr {echoed}",
                    why=_(
                        "with timestamps offered in the SYN, the SYN+ACK carries its own TS val "
                        "and echoes ours in TS ecr, which is how each side measures round-trip time"
                    ),
                    source="RFC 7323 §3",
                    prediction=pred,
                )
            )
        self.report.checks.append(
            fact(
                name=phrase(N_("the SYN+ACK has a valid checksum")),
                ok=reply.checksum_ok,
                expected=phrase(N_("valid")),
                observed=phrase(N_("valid")) if reply.checksum_ok else phrase(N_("bad")),
                why=_(
                    "tcplab turns checksum offload off on the "
                    "testbed's link, so the kernel's segments carry real checksums"
                ),
                source="RFC 9293 §3.1",
                prediction=pred,
            )
        )

    def _state_check(
        self, name: str, want: State, row: SocketRow | None, source: str, why: str
    ) -> None:
        """`name`: the check's name (marked N_) with {state}."""
        self.report.checks.append(
            fact(
                name=said(name, state=want.value),
                ok=row is not None and row.state is want,
                expected=want.value,
                observed=_state_of(row),
                why=why,
                source=source,
            )
        )

    def _third(self, syn: Segment, synack: Seen) -> Segment | None:
        """The crafting side's answer to the SYN+ACK, from its endpoint: the ACK (with the data)."""
        before = self.me.place.state
        answer = self.me.receive(synack.segment, synack.time)
        p = answer.pattern
        if p is None or p.flags != Flags.ACK or p.seq is None or p.ack is None:
            self.report.checks.append(
                fact(
                    name=phrase(N_("the SYN+ACK acknowledges our SYN")),
                    ok=False,
                    expected=phrase(N_("an ACK to send")),
                    observed=answer.text() or phrase(N_("nothing to send")),
                    why=why_text(answer),
                    source=answer.rfc,
                )
            )
            return None
        self._crafting(answer, _("the SYN+ACK acknowledges our SYN; the ACK is sent"), before)
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
            p.flags | Flags.PSH if self.opts.data else p.flags,
            seq=p.seq,
            ack=p.ack,
            window=defaults.WINDOW >> shift,
            options=options,
            payload=self.opts.data,
        )
        self.me.observe(ack)  # our snd_nxt moves past the data
        return ack

    def _third_segment(self, syn: Segment, synack: Seen, kstate: State | None) -> None:
        s, report, opts = self.s, self.report, self.opts
        ack = self._third(syn, synack)
        if ack is None:
            return
        self._send(ack, THIRD, echo=True)
        self._absorb()
        pred = self._prediction(ack)
        if pred is None or pred.silence:
            reply = self._quiet_reply()
        else:
            reply = s.next_from_kernel(
                opts.timeout, lambda g: self._from_kernel(g) and Flags.ACK in g.flags
            )
        self._absorb()
        self._answer(ack, reply, phrase(THIRD))
        assert self.kernel is not None
        predicted = self.kernel.endpoint.place.state
        row = self.s.wait_state(self.sport, self.port, predicted, 0.2)
        self._state_check(
            N_("the kernel's socket is {state} after the ACK"),
            predicted,
            row,
            "RFC 9293 §3.10.7.4",
            _("the ACK of its SYN completes the kernel's side of the handshake"),
        )
        report.change(Side.KERNEL, kstate, row.state if row else None, How.OBSERVED)
        if opts.data and row is not None:
            report.checks.append(
                fact(
                    name=phrase(N_("the data waits in the kernel's receive queue")),
                    ok=row.rqueue == len(opts.data),
                    expected=said(N_("{n} bytes"), n=len(opts.data)),
                    observed=said(N_("{n} bytes"), n=row.rqueue),
                    why=_(
                        "the application has not read yet, so the payload the kernel acknowledged "
                        "is queued"
                    ),
                    source="RFC 9293 §3.10.7.4 (seventh check)",
                )
            )
        self._check_accepted()
        if opts.keep:
            self._keep()

    # ---- waits that end as soon as the socket table shows nothing more can come ----

    def _quiet_reply(self) -> Seen | None:
        """The kernel's answer to a segment the model says it leaves unanswered (the ACK): waited
        for `quiet` s, or only until the socket table shows the connection settled where the model
        said, with no timer running, nothing retransmitted and nothing unacknowledged. The kernel
        answers a segment while it handles it, so an answer would already be on the link; anything
        later needs a timer, and none runs. (A segment the model answers is waited for in full.)"""
        assert self.kernel is not None
        want = self.kernel.endpoint.place.state
        deadline = time.monotonic() + self.opts.quiet
        while True:
            reply = self.s.next_from_kernel(0, self._from_kernel)
            if reply is not None:
                return reply
            owed = quiet.owes_ack(quiet.Conn(self.sport, self.port), self.s.seen)
            if _settled(self.s.connection(self.sport, self.port), want, owed):
                return self.s.next_from_kernel(GRACE, self._from_kernel)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            reply = self.s.next_from_kernel(min(left, POLL), self._from_kernel)
            if reply is not None:
                return reply

    def _settle_reset(self) -> bool:
        """After the tidy-up's RST: done once the kernel has no socket for the connection (the RST
        reset it, and a RST is never answered). Until then the capture is read; a socket still
        there after `quiet` s ends the wait if the link was quiet all along, and otherwise the
        link must be quiet for `quiet` s more (a RST that did not reset is answered). Whether
        the socket went."""
        deadline = time.monotonic() + self.opts.quiet
        answered = False
        while self.s.connection(self.sport, self.port) is not None:
            if time.monotonic() >= deadline:
                if answered:
                    self.s.drain(self.opts.quiet)
                return False
            answered = bool(self.s.drain(POLL)) or answered
        self.s.drain(GRACE)
        return True

    def _keep(self) -> None:
        """Save the kernel endpoint's numbers for `tcplab send --sport N`."""
        assert self.kernel is not None
        s = self.s
        save_connection(s.spec, self.sport, self.kernel.endpoint.kept())
        self.report.note(
            _(
                "the connection stays open (--keep): see it with "
                "'tcplab sockets {kernel}', probe it with "
                "'tcplab send --sport {sport} ...'"
            ).format(kernel=s.spec.kernel, sport=self.sport)
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
                name=phrase(N_("the application accepted the connection")),
                ok=found is not None,
                expected=phrase(N_("accepted")),
                observed=phrase(N_("accepted")) if found else phrase(N_("not accepted")),
                why=_(
                    "the kernel completes the handshake on its own; accept() then hands the "
                    "connection to the application"
                ),
                source="Linux inet_csk_accept",
            )
        )

    def tidy_up(self) -> None:
        """Reset the connection (unless kept) with a RST at the kernel's rcv_nxt: the crafting
        endpoint's snd_nxt, known before each segment left (so also after Ctrl-C). A half-open
        connection (Ctrl-C between the SYN and the ACK: a request sock) is reset the same way.
        Then everything captured is explained, and the model's open predictions decided."""
        reset = not self.opts.keep and self.opened and self.me.snd_nxt is not None
        if reset and self.me.snd_nxt is not None:
            rst = Segment(self.sport, self.port, Flags.RST, seq=self.me.snd_nxt, window=0)
            self._send(rst, CAUSES[2], echo=True)
            self._settle_reset()
        self._absorb()
        if reset:
            self.report.note(
                _(
                    "tidy-up: tcplab reset the connection with a RST at the kernel's rcv_nxt; "
                    "use --keep to leave it open"
                )
            )
        self.model.close()
