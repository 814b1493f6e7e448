"""A sans-IO model of the kernel's side of one connection: what it will send next, and why.

Theory of operation: an `Endpoint` holds the kernel's TCB as the model expects it (iss, irs, snd_una,
snd_nxt, rcv_nxt, the window it advertised with its scale, the place in tcplab.model.table, timers as
deadlines) and the listener's queue lengths. It is fed with what happens, in the manner of aioquic's
connection object: `receive` a segment the kernel gets (a crafted one), `observe` a segment the kernel
sent (its ISN, window and SACK blocks are learnt from it), `call` an application call, `fire` the timers
due at a time. Time is always an argument (seconds, any origin), never a clock. Each answer is a
`Prediction`: the pattern of the next kernel segment (or silence), the table's rule id, its cause, why,
the RFC section and the Linux note. Every decision comes from one row of tcplab.model.table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from tcplab.model.flags import Flags
from tcplab.model.kept import KeptConnection
from tcplab.model.notation import SegmentPattern
from tcplab.model.segment import Segment
from tcplab.model.seqnum import seq_add, seq_gt, seq_lt, seq_sub, signed
from tcplab.model.state import State
from tcplab.model.table import (
    FIN_OUT,
    MINI,
    SYNC,
    Case,
    Guard,
    Input,
    Num,
    Place,
    Row,
    case_for,
    lookup,
)
from tcplab.model.text import N_, Text

TIME_WAIT_LEN = 60.0  # TCP_TIMEWAIT_LEN, include/net/tcp.h: not a sysctl
# TCP_TIMEOUT_MIN, include/net/tcp.h: 2 jiffies, 8 ms at CONFIG_HZ=250 (this kernel: the SYN went out
# 11-12 ms after the segment, the timer wheel rounding up), 2 ms at HZ=1000; not a sysctl
TCP_TIMEOUT_MIN = 0.008
TCP_TIMEOUT_INIT = 1.0  # the first SYN and SYN+ACK timeout (tcp_timeout_init without BPF)
# TCP_RTO_MIN (tcp_rto_min): the first data RTO is srtt/8 + rttvar >= 200 ms; the handshake's RTT on
# the testbed adds a few ms (0.208 s measured), which the explainer's timer slack covers
TCP_RTO_MIN = 0.2
DATA_TIMER = frozenset({Place.ESTABLISHED, Place.CLOSE_WAIT})  # where the model runs a data RTO
RTO_TIMER = DATA_TIMER | FIN_OUT  # the RTO (from TCP_RTO_MIN, doubling) runs: data or our FIN out
TCP_MSS_DEFAULT = 536  # the peer's MSS when its SYN carries no MSS option (RFC 9293 §3.7.1)
TCP_MIN_SND_MSS = 48  # net.ipv4.tcp_min_snd_mss: the least MSS Linux sends with
TCPOLEN_TSTAMP_ALIGNED = 12  # the timestamp option in every segment once both SYNs carried it
_OPENED = (Place.REQUEST, Place.SYN_SENT)  # places whose SYN's ISN the model may know ahead
_KEPT = frozenset({"sysctls", "place", "syn_queue", "accept_queue", "started", "deadline"})


@dataclass(frozen=True)
class Sysctls:
    """The kernel host's values (net.ipv4.*); the engine reads them, these are Linux's defaults."""

    tcp_rfc1337: int = 0
    tcp_syncookies: int = 1
    tcp_invalid_ratelimit: int = 500  # ms
    tcp_syn_retries: int = 6
    tcp_syn_linear_timeouts: int = 4
    tcp_synack_retries: int = 5
    tcp_fin_timeout: int = 60
    tcp_window_scaling: int = 1
    tcp_rto_max_ms: int = 120000  # kernel 6.15+; TCP_RTO_MAX before
    tcp_tw_reuse: int = 2  # 2: reuse TIME_WAIT for connect() on loopback only
    tcp_tw_reuse_delay: int = 1000  # ms; kernel 6.14+ (a fixed 1 s before)
    tcp_abort_on_overflow: int = 0


@dataclass(frozen=True)
class Before:
    """The kernel's TCB as the model held it when an input arrived: what a crafted segment's numbers
    are judged against (absolute numbers; None where not known yet)."""

    place: Place
    rcv_nxt: int | None
    snd_nxt: int | None
    snd_una: int | None
    window: int  # the window the kernel advertised last, scaled


@dataclass(frozen=True)
class Prediction:
    """The kernel's next segment (pattern None: silence) and its explanation."""

    pattern: SegmentPattern | None
    rule: str
    cause_text: Text  # "segment", "app: close()", "timer: retransmission timer"
    why_text: Text  # the case's why, then the reply's numbers and where they come from
    rfc: str
    linux: str
    place: Place  # where the connection is afterwards
    delayed: bool = False
    input: Input | None = None  # the table's class of the input (a segment's, a call's, a timer's)
    before: Before | None = None  # the TCB when the input arrived
    taken: bool = False  # the kernel took the segment: its ack/data/FIN, or it moved the connection

    @property
    def silence(self) -> bool:
        return self.pattern is None

    @property
    def cause(self) -> str:
        """The cause in English (also a key: a timer's starts with "timer")."""
        return self.cause_text.english

    @property
    def why(self) -> str:
        """The explanation in English; shown to people as `why_text.show(_)`."""
        return self.why_text.english

    @property
    def linux_text(self) -> Text:
        """The Linux note as a Text: `p.linux_text.show(_)` ("" stays "", never gettext's header)."""
        return Text(self.linux)

    @property
    def case_why(self) -> str:
        """The table case's own why, without the numbers of the reply (English, a catalog msgid:
        show it with `_(p.case_why)`)."""
        for name, value in self.why_text.values:
            if name == "why" and isinstance(value, Text):
                return value.template
        return self.why_text.template

    def text(self, isns: tuple[int | None, int | None] | None = None) -> str | None:
        """tcpdump-style text of the predicted segment ('R. seq 5001 ack 1006'), None for silence;
        a number the model cannot know (a fresh ISN) shows as '*'. With `isns` (the kernel's ISN,
        the crafting side's), seq and ack are relative to them, signed ('. seq 1 ack -1')."""
        if self.pattern is None:
            return None
        p = self.pattern
        kernel, crafting = isns or (None, None)
        parts = [p.flags.tcpdump, f"seq {_shown(p.seq, kernel)}"]
        if Flags.ACK in p.flags:
            parts.append(f"ack {_shown(p.ack, crafting)}")
        if p.length:
            parts.append(f"len {p.length}")
        return " ".join(parts)

    def to_json(self) -> dict[str, object]:
        """The `prediction` object of issue 10's --json (without `agrees`, which the engine adds)."""
        return {
            "pattern": self.text(),
            "rule": self.rule,
            "cause": self.cause,
            "why": self.why,
            "rfc": self.rfc,
            "linux": self.linux,
            "delayed": self.delayed,
            "place": self.place.value,
        }


@dataclass
class Endpoint:
    sysctls: Sysctls = field(default_factory=Sysctls)
    place: Place = Place.NO_SOCKET
    iss: int | None = None
    irs: int | None = None
    snd_una: int | None = None
    snd_nxt: int | None = None
    rcv_nxt: int | None = None
    rcv_wnd: int = 65535  # the window the kernel advertised last, scaled
    wscale: int = 0  # the kernel's own shift (from its SYN or SYN+ACK), used once synchronized
    max_window: int = 65535  # the largest window the peer advertised
    sack_edge: int | None = None  # right edge of the highest SACK block the kernel advertised
    queued: list[tuple[int, int]] = field(default_factory=list)  # out-of-order (seq, end_seq)
    fin_sent: bool = False
    orphan: bool = False  # the application has closed
    unread: int = 0  # bytes received and not read by the application
    listener: bool = False  # a listener owns the port (for a SYN into TIME_WAIT)
    backlog: int = 128
    syn_queue: int = 0
    accept_queue: int = 0
    cookies: set[int] = field(default_factory=set)  # acks that complete a cookie SYN+ACK
    # the seq a cookie SYN+ACK's ACK must carry (the peer's ISN + 1, that SYN+ACK's ack): the
    # listener keeps no rcv_nxt for a cookie, the number comes back encoded
    cookie_rcv_nxt: int | None = None
    ts_recent: int | None = None  # the peer's last TS val the kernel took (RFC 7323)
    synack_ts: tuple[int, int] | None = None  # TS val of the kernel's first and latest SYN+ACK
    last_oow: float | None = None  # when the last rate-limited ACK went out
    retries: int = 0
    deadline: float | None = None  # the next timer, if any
    started: float | None = None  # when the first SYN or SYN+ACK went out (retrans_stamp)
    rtt: float | None = None  # the handshake's round trip, the RTO's first sample (None: none)
    peer_mss: int = TCP_MSS_DEFAULT  # the MSS option of the peer's SYN
    own_mss: int | None = None  # the MSS option of the kernel's SYN or SYN+ACK
    timestamps: tuple[bool, bool] = (False, False)  # the peer's SYN, the kernel's SYN carried them
    shortened: bool = False  # the deadline is TCP_TIMEOUT_MIN after an unacceptable ack

    # ---- building one for a connection tcplab did not follow from the start ----

    @classmethod
    def from_kept(cls, kept: KeptConnection, sysctls: Sysctls | None = None) -> Endpoint:
        """The kernel's side of a connection left open by `handshake --keep` (its numbers are the
        crafting side's mirrored: the kernel's snd_nxt is our rcv_nxt)."""
        return cls(
            sysctls=sysctls or Sysctls(),
            place=Place.ESTABLISHED,
            iss=kept.kisn,
            irs=kept.iss,
            snd_una=kept.rcv_nxt,
            snd_nxt=kept.rcv_nxt,
            rcv_nxt=kept.snd_nxt,
            rcv_wnd=kept.window,
            wscale=kept.wscale,
        )

    def kept(self) -> KeptConnection | None:
        """The crafting side's record of this connection (from_kept's inverse), None while a
        number is not known."""
        nums = (self.irs, self.iss, self.rcv_nxt, self.snd_nxt)
        if any(n is None for n in nums):
            return None
        irs, iss, rcv_nxt, snd_nxt = (n or 0 for n in nums)
        return KeptConnection(irs, iss, rcv_nxt, snd_nxt, self.rcv_wnd, self.wscale)

    @classmethod
    def seen(
        cls,
        state: State | None,
        *,
        snd_nxt: int | None = None,
        rcv_nxt: int | None = None,
        rcv_wnd: int = 65535,
        orphan: bool = False,
        listener: bool = False,
        sysctls: Sysctls | None = None,
    ) -> Endpoint:
        """An endpoint at the state `ss`/sock_diag showed (None: no socket); `orphan` for a socket
        with sock_diag's timewait timer (an orphaned FIN_WAIT_2)."""
        return cls(
            sysctls=sysctls or Sysctls(),
            place=place_of(state, orphan),
            snd_una=snd_nxt,
            snd_nxt=snd_nxt,
            rcv_nxt=rcv_nxt,
            rcv_wnd=rcv_wnd,
            orphan=orphan,
            listener=listener or state is State.LISTEN,
        )

    # ---- inputs ----

    def receive(self, seg: Segment, now: float, checksum_ok: bool = True) -> Prediction:
        """What the kernel answers to `seg` arriving now, and the TCB after it (a segment whose
        checksum does not hold: dropped before anything else)."""
        inp = classify(self, seg) if checksum_ok else Input.BAD_CHECKSUM
        return self._apply(lookup(self.place, inp), inp, seg, now, Text(N_("segment")))

    def call(self, inp: Input, now: float) -> Prediction:
        """An application call (Input.APP_*) other than send(), which is `send`."""
        if not inp.name.startswith("APP_"):
            raise ValueError(f"{inp.name} is not an application call")
        if inp is Input.APP_SEND:
            raise ValueError("send() needs its length: Endpoint.send(length, now)")
        return self._apply(lookup(self.place, inp), inp, None, now, _app(inp))

    def send(self, length: int, now: float) -> list[Prediction]:
        """The application's send() of `length` bytes: one prediction per segment the kernel sends
        at once (cut at `mss`), or one silent prediction; a send() of nothing sends nothing."""
        row, out, left = lookup(self.place, Input.APP_SEND), [], length
        cause = Text.of(N_("app: send() of {length} bytes"), length=length)
        while left > 0:
            size = min(left, self.mss)
            p = self._apply(row, Input.APP_SEND, None, now, cause, size, more=left > size)
            out.append(p)
            left -= size
            if p.silence:
                break
        if out and not out[0].silence and self.place in DATA_TIMER and self.deadline is None:
            self.retries, self.started, self.deadline = 0, now, now + self._gap(1)
        return out

    @property
    def mss(self) -> int:
        """The kernel's sending MSS (mss_cache, tcp_sync_mss): the peer's MSS, at most its own,
        less the timestamp option when both SYNs carried it."""
        mss = self.peer_mss if self.own_mss is None else min(self.peer_mss, self.own_mss)
        mss = max(mss, TCP_MIN_SND_MSS)  # __tcp_mtu_to_mss: a crafted <mss 1> sends 48 bytes
        return mss - (TCPOLEN_TSTAMP_ALIGNED if all(self.timestamps) else 0)

    def fire(self, now: float) -> Prediction | None:
        """The timer due at `now`, if one is: its prediction; None before the deadline."""
        if self.deadline is None or now < self.deadline:
            return None
        inp = self._timer_input()
        size = self._unacked() if inp is Input.TIMER_RETRANSMIT else 0
        return self._apply(lookup(self.place, inp), inp, None, now, _timer(inp), size)

    @property
    def rto(self) -> float:
        """The first RTO of data or a FIN: from the handshake's round trip m, srtt = m and
        rttvar = max(2m, tcp_rto_min), so RTO = m + max(2m, 200 ms) (tcp_rtt_estimator,
        __tcp_set_rto); TCP_RTO_MIN with no sample."""
        m = self.rtt
        return TCP_RTO_MIN if m is None or m < 0 else m + max(2 * m, TCP_RTO_MIN)

    def timer_seen(self, due: float, at: float) -> None:
        """The kernel's timer segment, due at `due` by the model, went out at `at`: the kernel
        re-arms its timer when it runs, so the next deadline counts from `at` (an RTO of
        srtt + 200 ms is a few ms over TCP_RTO_MIN, which doubling would otherwise add up)."""
        if self.deadline is not None and at > due:
            self.deadline += at - due

    def _unacked(self) -> int:
        """The bytes a data retransmission carries: from snd_una, at most one MSS."""
        if self.place not in DATA_TIMER or self.snd_una is None or self.snd_nxt is None:
            return 0
        return max(0, min(seq_sub(self.snd_nxt, self.snd_una), self.mss))

    def observe(self, seg: Segment) -> None:
        """A segment the kernel sent: learn its ISN, window, SACK edge and snd_nxt."""
        if Flags.RST in seg.flags:
            return  # its seq may be the peer's ack (a reset of a stray segment), not our snd_nxt
        if Flags.SYN in seg.flags:
            self.iss = self.snd_una = seg.seq
            self.snd_nxt = seg.end_seq
            mss = seg.option("mss")
            self.own_mss = mss.value if mss is not None and isinstance(mss.value, int) else None
            self.timestamps = (self.timestamps[0], seg.timestamps() is not None)
            wscale = seg.option("wscale")
            if wscale is not None and isinstance(wscale.value, int):
                self.wscale = wscale.value
            if self.place is Place.LISTEN and Flags.ACK in seg.flags:
                self.cookies.add(seq_add(seg.seq, 1))
                self.cookie_rcv_nxt = seg.ack
            ts = seg.timestamps()
            if Flags.ACK in seg.flags and ts is not None:
                first = ts[0] if self.synack_ts is None else self.synack_ts[0]
                self.synack_ts = (first, ts[0])
            self.rcv_wnd = seg.window
        else:
            self.rcv_wnd = seg.window << self.wscale
        if self.snd_nxt is None or seq_gt(seg.end_seq, self.snd_nxt):
            self.snd_nxt = seg.end_seq
        sack = seg.option("sack")
        if sack is not None and isinstance(sack.value, tuple):
            for block in sack.value:
                if isinstance(block, tuple):
                    edge = block[1]
                    if self.sack_edge is None or seq_gt(edge, self.sack_edge):
                        self.sack_edge = edge

    # ---- the table, applied ----

    def read(self) -> None:
        """The application reads everything received (no segment: not a table input)."""
        self.unread = 0

    def guards(
        self, seg: Segment | None, now: float, inp: Input | None = None, more: bool = False
    ) -> frozenset[Guard]:
        s = self.sysctls
        full = self.syn_queue > self.backlog
        overflow = self.accept_queue > self.backlog  # sk_acceptq_is_full
        held = {
            Guard.RATE_LIMITED: self._rate_limited(seg, now, inp or _input_of(self, seg)),
            Guard.SYN_QUEUE_FULL_DROP: full and s.tcp_syncookies == 0,
            Guard.ACCEPT_QUEUE_ABORT: overflow and s.tcp_abort_on_overflow == 1,
            Guard.ACCEPT_QUEUE_FULL: overflow,
            Guard.COOKIES: s.tcp_syncookies == 2 or (full and s.tcp_syncookies == 1),
            Guard.RFC1337: s.tcp_rfc1337 == 1,
            Guard.ORPHAN: self.orphan,
            Guard.UNREAD_DATA: self.unread > 0 and inp is Input.APP_CLOSE,
            Guard.LISTENER: self.listener,
            Guard.SYN_RETRANSMITTED: self.retries > 0,
            Guard.TIMER_SHORTENED: self.shortened,
            Guard.MORE_DATA: more,
            Guard.TW_REUSE_OFF: self.sysctls.tcp_tw_reuse != 1,
            Guard.TW_NO_TIMESTAMPS: not all(self.timestamps),
            Guard.TW_TOO_SOON: self._tw_too_soon(now),
            Guard.SYN_ACK_REPEATS_SYN: self._repeats_syn(seg),
        }
        return frozenset(g for g, on in held.items() if on)

    def _tw_too_soon(self, now: float) -> bool:
        """TIME_WAIT began tcp_tw_reuse_delay ms ago or less (tcp_twsk_unique: tw_entry_stamp)."""
        if self.place is not Place.TIME_WAIT or self.started is None:
            return False
        return (now - self.started) * 1000 <= self.sysctls.tcp_tw_reuse_delay

    def _repeats_syn(self, seg: Segment | None) -> bool:
        """A SYN+ACK that is the peer's SYN again (seq + 1 = rcv_nxt), acking snd_nxt exactly:
        what Linux's SYN_RECV takes in a simultaneous open (tcp_validate_incoming)."""
        if seg is None or seg.flags & (Flags.SYN | Flags.ACK) != Flags.SYN | Flags.ACK:
            return False
        return seg.end_seq == self.rcv_nxt and seg.ack == self.snd_nxt

    def _rate_limited(self, seg: Segment | None, now: float, inp: Input | None) -> bool:
        if seg is None or self.last_oow is None:
            return False
        if _exempt(seg, inp):
            return False
        return (now - self.last_oow) * 1000 < self.sysctls.tcp_invalid_ratelimit

    def _apply(
        self,
        row: Row,
        inp: Input,
        seg: Segment | None,
        now: float,
        cause: Text,
        size: int = 0,
        more: bool = False,
    ) -> Prediction:
        """`size`, `more`: a send()'s segment, its bytes, and whether more of them follow."""
        case = case_for(row, self.guards(seg, now, inp, more))
        pattern = None
        why = Text(case.why)
        if case.reply is not None:
            seq = self._num(case.reply.seq, seg)
            ack = self._num(case.reply.ack, seg) if case.reply.ack else None
            length = size if case.reply.data else None
            pattern = SegmentPattern(case.reply.flags, seq=seq, length=length, ack=ack)
            shown = [_number("seq", case.reply.seq, seq, seg)]
            if case.reply.ack is not None:
                shown.append(_number("ack", case.reply.ack, ack, seg))
            if length is not None:
                shown.append(Text(f"len {length} (mss {self.mss})"))
                if self.snd_nxt is not None and case.reply.seq is not Num.SND_UNA:
                    self.snd_nxt = seq_add(self.snd_nxt, length)
            why = Text.of(N_("{why}: {numbers}"), why=why, numbers=tuple(shown))
            limited = any(c.guard is Guard.RATE_LIMITED for c in row.cases)
            if limited and (seg is None or not _exempt(seg, inp)):
                self.last_oow = now
        before = self.place
        rcv_nxt = self.rcv_nxt if self.rcv_nxt is not None else self.cookie_rcv_nxt
        tcb = Before(before, rcv_nxt, self.snd_nxt, self.snd_una, self.rcv_wnd)
        self._effects(case, inp, seg, now)
        if before is Place.TIME_WAIT and case.next is Place.SYN_SENT:
            self._reincarnate()  # connect() took over the 4-tuple: a new connection
        if case.next in _OPENED and pattern is not None and pattern.seq is not None:
            self.iss = self.snd_una = pattern.seq  # reopened from TIME_WAIT: the ISN is known
            self.snd_nxt = seq_add(pattern.seq, 1)
        if case.reply is not None and Flags.FIN in case.reply.flags and not self.fin_sent:
            self.fin_sent = True
            if self.snd_nxt is not None:
                self.snd_nxt = seq_add(self.snd_nxt, 1)
        self._enter(before, inp, now, case)
        return Prediction(
            pattern,
            case.rule,
            cause,
            why,
            row.rfc,
            row.linux,
            self.place,
            bool(case.reply and case.reply.delayed),
            inp,
            tcb,
            _taken(case, inp, before, self.place),
        )

    def _reincarnate(self) -> None:
        """Forget the old connection's TCB: everything but the sysctls and the listener."""
        fresh = Endpoint(sysctls=self.sysctls, listener=self.listener, backlog=self.backlog)
        for f in fields(self):
            if f.name not in _KEPT:
                setattr(self, f.name, getattr(fresh, f.name))

    def _num(self, num: Num, seg: Segment | None) -> int | None:
        if num is Num.ZERO:
            return 0
        if num is Num.SEG_ACK:
            return seg.ack if seg else None
        if num is Num.SEG_END:
            return self._after_queue(seg.end_seq) if seg else None
        if num is Num.NEW_ISS:
            if self.place is Place.TIME_WAIT and self.snd_nxt is not None:
                return seq_add(self.snd_nxt, 65537)
            return None  # a fresh ISN: not predictable
        if num is Num.ISS:
            return self.iss
        if num is Num.RCV_NXT:
            return self.rcv_nxt
        if num is Num.SND_UNA:
            return self.snd_una
        if self.snd_nxt is None:
            return None
        return seq_add(self.snd_nxt, -1) if num is Num.SND_NXT_LESS_1 else self.snd_nxt

    def _effects(self, case: Case, inp: Input, seg: Segment | None, now: float) -> None:
        if inp is Input.APP_LISTEN:
            self.listener = True
        if inp in (Input.APP_CLOSE, Input.APP_ABORT):
            self.orphan = True
        if seg is not None and case.next is Place.REQUEST:  # a SYN at a listener (or TIME_WAIT)
            self.irs, self.rcv_nxt = seg.seq, seg.end_seq
            self.iss = self.snd_una = self.snd_nxt = None
            self.syn_queue += 1
        if seg is None or not (case.accept or case.next is Place.REQUEST):
            if seg is not None and inp is Input.ACK_DATA_AHEAD and case.reply is not None:
                self.queued.append((seg.seq, seg.end_seq))  # tcp_data_queue_ofo keeps it
            return
        if Flags.SYN in seg.flags:
            mss = seg.option("mss")
            given = mss.value if mss and isinstance(mss.value, int) else 0
            self.peer_mss = given or TCP_MSS_DEFAULT  # tcp_parse_options ignores <mss 0>
            self.timestamps = (seg.timestamps() is not None, self.timestamps[1])
        ts = seg.timestamps()
        if ts is not None:
            self.ts_recent = ts[0]
        if not case.accept:
            return
        if Flags.SYN in seg.flags:
            self.irs = seg.seq
            self.rcv_nxt = seg.end_seq
        elif self.rcv_nxt is None or (
            seq_lt(self.rcv_nxt, seg.end_seq) and not seq_gt(seg.seq, self.rcv_nxt)
        ):
            end = self._after_queue(seg.end_seq)
            self.unread += len(seg.payload) + seq_sub(end, seg.end_seq)
            self.rcv_nxt = end
            self.queued = [q for q in self.queued if seq_gt(q[1], end)]
        if Flags.ACK in seg.flags and (self.snd_una is None or seq_gt(seg.ack, self.snd_una)):
            self.snd_una = seg.ack
            if self.snd_nxt is None or seq_gt(seg.ack, self.snd_nxt):
                self.snd_nxt = seg.ack
            self._rearm_data_timer(now)
        self.max_window = max(self.max_window, seg.window)
        if inp is Input.ACK_COOKIE:
            self.iss = seq_add(seg.ack, -1)
            self.irs, self.rcv_nxt = seq_add(seg.seq, -1), seg.seq

    def _rearm_data_timer(self, now: float) -> None:
        """An ACK of new data: the RTO stops when nothing is outstanding, else starts again
        (tcp_rearm_rto)."""
        if self.place not in DATA_TIMER or self.deadline is None:
            return
        self.retries = 0
        done = self.snd_nxt is None or self.snd_una == self.snd_nxt
        self.deadline = None if done else now + self._gap(1)

    def _after_queue(self, end: int) -> int:
        """rcv_nxt once data up to `end` is in: queued out-of-order data it reaches is in too
        (tcp_ofo_queue), so the ACK covers it."""
        for seq, q_end in sorted(self.queued, key=lambda q: seq_sub(q[0], end)):
            if not seq_gt(seq, end) and seq_gt(q_end, end):
                end = q_end
        return end

    def _enter(self, before: Place, inp: Input, now: float, case: Case) -> None:
        after = case.next or before
        if before is Place.REQUEST and after is not Place.REQUEST:
            self.syn_queue = max(0, self.syn_queue - 1)
            if after is Place.ESTABLISHED:
                self.accept_queue += 1
        self.place = after
        if after is not before and before in FIN_OUT and after in FIN_OUT:
            pass  # FIN_WAIT_1 -> CLOSING: our FIN is still out, its RTO keeps running
        elif after is not before:
            if before in (Place.REQUEST, Place.SYN_SENT) and after is Place.ESTABLISHED:
                # tcp_synack_rtt_meas / tcp_ack's first sample: from the SYN(+ACK), unless it
                # was sent again (Karn: no sample from a retransmitted segment)
                self.rtt = None if self.retries or self.started is None else now - self.started
            self.retries = 0
            self.shortened = False
            self.started = now
            self.deadline = self._first_deadline(now)
        elif case.rearm_min:
            self.shortened = True
            self.deadline = now + TCP_TIMEOUT_MIN
        elif case.restart_timer and after in MINI:
            self.deadline = now + TIME_WAIT_LEN
        elif case.restart_timer and after is Place.REQUEST:
            # tcp_check_req: the SYN+ACK resent for a repeated SYN restarts the request's timer,
            # at TCP_TIMEOUT_INIT << num_timeout (the timer's own firings so far)
            self.deadline = now + self._gap(self.retries + 1)
        elif inp is Input.TIMER_RETRANSMIT and case.reply is not None:
            # the kernel rearms when its timer runs, at the deadline, however late `now` comes
            fired = now if self.deadline is None else self.deadline
            self.retries += 1
            self.shortened = False
            self.deadline = fired + self._gap(self.retries + 1)
        elif inp.name.startswith("TIMER_"):
            self.deadline = None

    # ---- timers ----

    def _first_deadline(self, now: float) -> float | None:
        if self.place in (Place.SYN_SENT, Place.REQUEST, Place.SYN_RECEIVED):
            return now + self._gap(1)
        if self.place is Place.TIME_WAIT:
            return now + TIME_WAIT_LEN
        if self.place is Place.ORPHAN_FIN_WAIT_2:
            return now + self.sysctls.tcp_fin_timeout
        if self.place in FIN_OUT:
            return now + self._gap(1)  # our FIN went out: the RTO runs until it is ACKed
        return None

    def _timer_input(self) -> Input:
        if self.place in MINI:
            return Input.TIMER_EXPIRE
        return Input.TIMER_GIVE_UP if self._timed_out() else Input.TIMER_RETRANSMIT

    def _timed_out(self) -> bool:
        """Whether the timer running at its deadline gives up instead of retransmitting.

        A request sock counts (reqsk_timer_handler -> syn_ack_recalc: num_timeout >=
        tcp_synack_retries). A full socket in SYN_SENT or SYN_RECEIVED (tcp_write_timeout) gives
        up after tcp_syn_retries retransmissions (plus tcp_syn_linear_timeouts in SYN_SENT), or,
        once it has retransmitted, when the time since its first SYN (retrans_stamp) reaches
        tcp_model_timeout(tcp_syn_retries) (retransmits_timed_out): with linear timeouts that
        time comes first (tcp_syn_retries = 1: SYNs at 0, 1 and 2 s, given up at 3 s)."""
        s = self.sysctls
        if self.place is Place.REQUEST:
            return self.retries >= s.tcp_synack_retries
        if self.place in RTO_TIMER:
            # tcp_retries2 (15) retransmissions, many minutes; an orphan's FIN tcp_orphan_retries
            # (0: 8), about 50 s at these RTOs: neither is modelled
            return False
        limit = s.tcp_syn_retries
        if self.place is Place.SYN_SENT:
            limit += s.tcp_syn_linear_timeouts
        if self.retries >= limit:
            return True
        if self.retries == 0 or self.started is None or self.deadline is None:
            return False
        return self.deadline - self.started >= model_timeout(s.tcp_syn_retries, s.tcp_rto_max_ms)

    def _gap(self, k: int) -> float:
        """Seconds before the k-th transmission's timer fires (k = 1: after the first send),
        the RTO doubling up to tcp_rto_max_ms (SYN_SENT: after tcp_syn_linear_timeouts at 1 s)."""
        if self.place in RTO_TIMER:
            return min(float(2 ** (k - 1)) * self.rto, self.sysctls.tcp_rto_max_ms / 1000)
        if self.place is Place.SYN_SENT:
            linear = self.sysctls.tcp_syn_linear_timeouts
            gap = 1.0 if k <= linear + 1 else float(2 ** (k - linear - 1))
        else:
            gap = float(2 ** (k - 1))
        return min(gap * TCP_TIMEOUT_INIT, self.sysctls.tcp_rto_max_ms / 1000)


def _taken(case: Case, inp: Input, before: Place, after: Place) -> bool:
    """The kernel took the segment: its ack, data or FIN, or it moved the connection — but not a
    segment that only made the kernel reset the connection (its RST answers, it takes nothing)."""
    if case.accept:
        return True
    resets = case.reply is not None and Flags.RST in case.reply.flags and not inp.is_rst
    return after is not before and not resets


def model_timeout(boundary: int, rto_max_ms: int, rto_base: float = TCP_TIMEOUT_INIT) -> float:
    """tcp_model_timeout (net/ipv4/tcp_timer.c), in seconds: how long `boundary` retransmissions
    take if the RTO doubles from `rto_base` up to rto_max and stays there."""
    rto_max = rto_max_ms / 1000
    thresh = int(rto_max // rto_base).bit_length() - 1  # ilog2(rto_max / rto_base)
    if boundary <= thresh:
        return ((2 << boundary) - 1) * rto_base
    return ((2 << thresh) - 1) * rto_base + (boundary - thresh) * rto_max


def _input_of(ep: Endpoint, seg: Segment | None) -> Input | None:
    return classify(ep, seg) if seg is not None else None


def _exempt(seg: Segment, inp: Input | None = None) -> bool:
    """Data and FINs are always answered and do not count (tcp_oow_rate_limited), except where
    the ack is unacceptable: tcp_send_challenge_ack limits those whatever they carry."""
    if inp in (Input.ACK_BAD, Input.ACK_OLD):
        return False
    return bool(seg.seg_len) and Flags.SYN not in seg.flags


def _number(field: str, num: Num, value: int | None, seg: Segment | None) -> Text:
    """'ack = seq + length = 100 + 1 = 101': a reply's number with where it comes from."""
    if value is None:
        return Text.of(
            N_("{field} = {name} (not known to tcplab)"), field=field, name=Text(num.value)
        )
    if num is Num.SEG_END and seg is not None:
        return Text.of(
            N_("{field} = seq + length = {seq} + {length} = {value}"),
            field=field,
            seq=seg.seq,
            length=seg.seg_len,
            value=value,
        )
    if num is Num.SEG_ACK:
        return Text.of(N_("{field} = its ack = {value}"), field=field, value=value)
    if num is Num.ZERO:
        return Text(f"{field} 0")  # notation: the same in every language
    return Text(f"{field} = {num.value} = {value}")


def _app(inp: Input) -> Text:
    """The cause of an application call: 'app: close()'."""
    return Text.of(N_("app: {call}"), call=Text(inp.value))


def _timer(inp: Input) -> Text:
    """The cause of a timer: 'timer: retransmission timer'."""
    return Text.of(N_("timer: {timer}"), timer=Text(inp.value))


def _shown(value: int | None, base: int | None) -> str:
    if value is None:
        return "*"
    return str(value if base is None else signed(value, base))


def place_of(state: State | None, orphan: bool = False) -> Place:
    """The table's place for a state as the kernel reports it: SYN_RECEIVED is a request sock
    (a simultaneous open is rare), FIN_WAIT_2 with the timewait timer an orphan mini socket."""
    if state is None or state is State.CLOSED:
        return Place.NO_SOCKET
    if state is State.SYN_RECEIVED:
        return Place.REQUEST
    if state is State.FIN_WAIT_2 and orphan:
        return Place.ORPHAN_FIN_WAIT_2
    return Place[state.name]


def classify(ep: Endpoint, seg: Segment) -> Input:
    """The table's input class of `seg` at the endpoint's place, in RFC 9293 §3.10.7's order."""
    f = seg.flags
    if Flags.RST in f:
        return _classify_rst(ep, seg)
    if Flags.SYN in f:
        if Flags.ACK in f:
            good = ep.snd_nxt is not None and seg.ack == ep.snd_nxt
            return Input.SYN_ACK_GOOD if good else Input.SYN_ACK_BAD
        if Flags.FIN in f:
            return Input.SYN_FIN
        return _classify_syn(ep, seg)
    if Flags.ACK not in f:
        return Input.NO_ACK
    return _classify_ack(ep, seg)


def _classify_syn(ep: Endpoint, seg: Segment) -> Input:
    if ep.place is Place.LISTEN or ep.rcv_nxt is None:
        return Input.SYN_NEW
    if ep.irs is not None and seg.seq == ep.irs:
        return Input.SYN_REPEAT
    ts = seg.timestamps()
    if ep.place is Place.TIME_WAIT and ts is not None and ep.ts_recent is not None:
        # RFC 6191 / tcp_timewait_state_process: a newer timestamp reopens, an older one is PAWS
        return Input.SYN_NEW if seq_gt(ts[0], ep.ts_recent) else Input.SYN_OLD
    if seq_gt(seg.seq, ep.rcv_nxt):
        return Input.SYN_NEW
    if ep.place is Place.ORPHAN_FIN_WAIT_2 and seg.seq == ep.rcv_nxt:
        return Input.SYN_NEW
    return Input.SYN_OLD


def _classify_rst(ep: Endpoint, seg: Segment) -> Input:
    if ep.place is Place.SYN_SENT:  # the ACK bit first (tcp_rcv_synsent_state_process)
        if Flags.ACK not in seg.flags:
            return Input.RST_OUT_OF_WINDOW
        good = ep.snd_nxt is not None and seg.ack == ep.snd_nxt
        return Input.RST_EXACT if good else Input.RST_BAD_ACK
    if ep.rcv_nxt is None:
        return Input.RST_OUT_OF_WINDOW
    if seg.seq == ep.rcv_nxt:
        return Input.RST_EXACT
    if seg.seq == seq_add(ep.rcv_nxt, -1):
        return Input.RST_BEFORE_BY_ONE
    if ep.sack_edge is not None and seg.seq == ep.sack_edge:
        return Input.RST_SACK_EDGE
    if not seq_lt(seg.seq, ep.rcv_nxt) and not seq_gt(seg.seq, seq_add(ep.rcv_nxt, ep.rcv_wnd)):
        return Input.RST_IN_WINDOW
    return Input.RST_OUT_OF_WINDOW


def _classify_ack(ep: Endpoint, seg: Segment) -> Input:
    if ep.place is Place.LISTEN:
        return Input.ACK_COOKIE if seg.ack in ep.cookies else Input.ACK_PURE
    data = bool(seg.payload) or Flags.FIN in seg.flags
    rcv_nxt = seg.seq if ep.rcv_nxt is None else ep.rcv_nxt  # unknown: taken as in order
    outside = not _acceptable(ep, seg, rcv_nxt) or _tsecr_rejected(ep, seg)
    # a full socket checks the seq first (tcp_validate_incoming), the ack after (tcp_ack): a
    # segment outside the window is answered as such whatever its ack. A request sock and
    # SYN_SENT check the ack first (tcp_check_req, tcp_rcv_synsent_state_process).
    if outside and ep.place in SYNC:
        return Input.ACK_OOW_DATA if data else Input.ACK_OOW
    if ep.snd_nxt is None:
        pass  # the kernel's numbers are unknown: the ack is taken as acceptable
    elif ep.place in (Place.SYN_SENT, Place.REQUEST):
        if seg.ack != ep.snd_nxt:
            return Input.ACK_BAD
    elif seq_gt(seg.ack, ep.snd_nxt):
        return Input.ACK_BAD
    elif ep.snd_una is not None and seq_lt(seg.ack, seq_add(ep.snd_una, -ep.max_window)):
        return Input.ACK_OLD
    if outside:
        return Input.ACK_OOW_DATA if data else Input.ACK_OOW
    if data and ep.place in SYNC and not seq_gt(seg.end_seq, rcv_nxt):
        return Input.ACK_OOW_DATA  # all of it old (a retransmission): tcp_data_queue ACKs at once
    # in TIME_WAIT the FIN was ACKed already: a bare ACK at rcv_nxt is the dropped ACK_PURE
    acks_fin = ep.fin_sent and seg.ack == ep.snd_nxt and ep.place is not Place.TIME_WAIT
    if Flags.FIN in seg.flags and seg.seq == rcv_nxt:
        return Input.ACK_FIN_OF_FIN if acks_fin else Input.ACK_FIN
    if seg.payload:
        return Input.ACK_DATA if seg.seq == rcv_nxt else Input.ACK_DATA_AHEAD
    if Flags.FIN in seg.flags:
        return Input.ACK_DATA_AHEAD
    return Input.ACK_OF_FIN if acks_fin else Input.ACK_PURE


def _tsecr_rejected(ep: Endpoint, seg: Segment) -> bool:
    """A request sock's check of the third ACK's TS ecr (tcp_check_req, Linux 6.x: tsecr_reject):
    a non-zero ecr must lie between the TS vals of the first and the latest SYN+ACK, or the ACK is
    treated as out of window (answered with an ACK, the request kept)."""
    ts = seg.timestamps()
    if ep.place is not Place.REQUEST or ts is None or ts[1] == 0 or ep.synack_ts is None:
        return False
    first, last = ep.synack_ts
    return seq_lt(ts[1], first) or seq_gt(ts[1], last)


def _acceptable(ep: Endpoint, seg: Segment, rcv_nxt: int) -> bool:
    """RFC 9293 §3.10.7.4's acceptability test, as Linux's tcp_sequence does it."""
    if ep.place is Place.TIME_WAIT:
        return seg.seq == rcv_nxt
    right = seq_add(rcv_nxt, ep.rcv_wnd)
    return not seq_lt(seg.end_seq, rcv_nxt) and not seq_gt(seg.seq, right)
