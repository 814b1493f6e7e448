"""The one TCP table: (place, input) -> the kernel's answer, its next place, guarded by Linux's conditions.

Theory of operation: a *place* is where a segment, an application call or a timer meets the kernel: one
of the 11 RFC 9293 states, the listener's request sock (SYN_RECEIVED before accept) and the two
mini-sockets Linux keeps after close (TIME_WAIT, orphaned FIN_WAIT_2). An *input* is a segment already
classified by its flags and by the acceptability tests of the place it meets (tcplab.model.endpoint
classifies), an application call, or a timer. Each row covers a set of places and a set of inputs and
lists its *cases* in order: the first whose guard holds decides; the last case's guard is ALWAYS. A
case's reply is a pattern whose numbers name connection variables (Num), resolved by the endpoint.

Every (place, input) pair has exactly one row (tests/unit/test_model_table.py proves it); there is no
"unpredicted" pair. `edges()` derives the state diagram from the same rows.

Sources: RFC 9293 §3.10.7; RFC 5961; Linux net/ipv4/tcp_input.c (tcp_rcv_state_process,
tcp_validate_incoming, tcp_conn_request), tcp_minisocks.c (tcp_check_req, tcp_timewait_state_process),
tcp_ipv4.c (tcp_v4_send_reset); facts seen on this machine: ../shared/LINUX-TCP.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from tcplab.model.flags import Flags
from tcplab.model.state import State
from tcplab.model.text import N_


class Place(str, Enum):
    """Where an input meets the kernel; `state` is the RFC state a student sees there."""

    NO_SOCKET = N_("no socket")
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    REQUEST = N_("request sock")  # a listener's SYN_RECEIVED before the third ACK (ss: SYN-RECV)
    SYN_RECEIVED = "SYN_RECEIVED"  # a full socket: simultaneous open
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"  # a mini socket (inet_timewait_sock)
    ORPHAN_FIN_WAIT_2 = N_("orphan FIN_WAIT_2")  # after close(): a TIME_WAIT-type mini socket

    def __str__(self) -> str:
        return self.value

    @property
    def state(self) -> State:
        return _STATE_OF.get(self) or State[self.name]


_STATE_OF = {
    Place.NO_SOCKET: State.CLOSED,
    Place.REQUEST: State.SYN_RECEIVED,
    Place.ORPHAN_FIN_WAIT_2: State.FIN_WAIT_2,
}


class Input(str, Enum):
    """A classified segment, an application call or a timer. Classes of segments are named for the
    first test of RFC 9293 §3.10.7 (as Linux orders it) that tells them apart. The name is the key;
    the value is the English description, marked with N_ where it has words (shown with `_()`)."""

    # RST, by where its seq falls (SYN_SENT: EXACT = RST+ACK acking our SYN, OUT_OF_WINDOW = no ACK)
    RST_EXACT = N_("RST at rcv_nxt")
    RST_BEFORE_BY_ONE = N_("RST at rcv_nxt-1")
    RST_SACK_EDGE = N_("RST at the SACK right edge")
    RST_IN_WINDOW = N_("RST in window")
    RST_OUT_OF_WINDOW = N_("RST out of window")
    # SYN_SENT only, where the ACK bit is tested before the RST bit; elsewhere a RST is judged by its
    # seq alone, so other places list this class with the RSTs they drop
    RST_BAD_ACK = N_("RST+ACK with unacceptable ack")
    # SYN without ACK
    SYN_NEW = N_("SYN after rcv_nxt (or any SYN at a listener)")
    SYN_REPEAT = N_("SYN repeating the peer's ISN")
    SYN_OLD = N_("other SYN")
    SYN_FIN = "SYN+FIN"
    SYN_ACK_GOOD = N_("SYN+ACK with acceptable ack")
    SYN_ACK_BAD = N_("SYN+ACK with unacceptable ack")
    # ACK set, no SYN or RST
    ACK_BAD = N_("ACK of data never sent")
    ACK_OLD = N_("ACK older than snd_una - max window")
    ACK_OOW = N_("pure ACK out of window")
    ACK_OOW_DATA = N_("data or FIN out of window")
    ACK_COOKIE = N_("ACK of a cookie SYN+ACK")
    ACK_PURE = N_("pure ACK")
    ACK_OF_FIN = N_("ACK of our FIN")
    ACK_DATA = N_("data at rcv_nxt")
    ACK_DATA_AHEAD = N_("data beyond rcv_nxt")
    ACK_FIN = N_("FIN at rcv_nxt")
    ACK_FIN_OF_FIN = N_("FIN at rcv_nxt acking our FIN")
    NO_ACK = N_("no SYN, RST or ACK")
    # any segment whose TCP checksum does not hold: tested before everything else
    BAD_CHECKSUM = N_("segment with a bad checksum")
    # application calls
    APP_LISTEN = "listen()"
    APP_CONNECT = "connect()"
    APP_CLOSE = "close()"
    APP_SHUTDOWN = "shutdown(SHUT_WR)"
    APP_ABORT = N_("close() with SO_LINGER 0 or unread data")
    APP_SEND = "send()"  # with the number of bytes (Endpoint.send)
    # timers
    TIMER_RETRANSMIT = N_("retransmission timer")
    TIMER_GIVE_UP = N_("retries exhausted")
    TIMER_EXPIRE = N_("TIME_WAIT / tcp_fin_timeout expiry")

    def __str__(self) -> str:
        return self.value

    @property
    def is_segment(self) -> bool:
        return not self.name.startswith(("APP_", "TIMER_"))

    @property
    def is_rst(self) -> bool:
        return self.name.startswith("RST_")


class Guard(str, Enum):
    """A condition selecting Linux's behaviour; the endpoint decides each from its sysctls and TCB."""

    ALWAYS = N_("always")
    RATE_LIMITED = N_(
        "within tcp_invalid_ratelimit of the last such ACK (pure segments only, but any segment "
        "whose ack is unacceptable)"
    )
    SYN_QUEUE_FULL_DROP = N_("SYN queue longer than the backlog, tcp_syncookies = 0")
    ACCEPT_QUEUE_ABORT = N_("accept queue full, tcp_abort_on_overflow = 1")
    ACCEPT_QUEUE_FULL = N_("accept queue full")
    COOKIES = N_("SYN queue longer than the backlog with tcp_syncookies = 1, or tcp_syncookies = 2")
    RFC1337 = "tcp_rfc1337 = 1"
    ORPHAN = N_("the application has closed the socket")
    UNREAD_DATA = N_("close() (not shutdown) with unread data")
    LISTENER = N_("a listener exists on the port")
    SYN_RETRANSMITTED = N_("the SYN was retransmitted already (icsk_retransmits > 0)")
    TIMER_SHORTENED = N_(
        "the retransmission timer was cut to TCP_TIMEOUT_MIN by an unacceptable ack"
    )
    MORE_DATA = N_("the send() holds more than one MSS: this segment is full and more follow")
    TW_REUSE_OFF = N_("tcp_tw_reuse is 0, or 2 (loopback only) on a link that is not loopback")
    TW_NO_TIMESTAMPS = N_("the connection in TIME_WAIT did not use timestamps")
    TW_TOO_SOON = N_("less than tcp_tw_reuse_delay since the connection entered TIME_WAIT")
    SYN_ACK_REPEATS_SYN = N_(
        "the SYN+ACK repeats the peer's SYN (seq + 1 = rcv_nxt) and acks snd_nxt exactly"
    )


class Num(str, Enum):
    """A number of a reply, named by the connection variable it comes from."""

    ZERO = "0"
    ISS = "iss"  # the kernel's own ISN
    NEW_ISS = N_("new iss")  # an ISN not yet known (from TIME_WAIT: old snd_nxt + 65537)
    SND_NXT = "snd_nxt"
    SND_NXT_LESS_1 = "snd_nxt - 1"  # a retransmitted FIN
    RCV_NXT = "rcv_nxt"
    SEG_ACK = N_("the segment's ack")
    SEG_END = N_("the segment's seq + len")
    SND_UNA = "snd_una"  # the first byte not yet acknowledged (a retransmission)


@dataclass(frozen=True)
class Reply:
    flags: Flags
    seq: Num
    ack: Num | None = None
    delayed: bool = False  # may come from the delayed-ACK timer, a few ms later
    data: bool = False  # carries the application's bytes (its share of a send(), at most one MSS)

    def text(self) -> str:
        ack = f" ack {self.ack.value}" if self.ack else ""
        data = " len <= mss" if self.data else ""
        return f"{self.flags.tcpdump} seq {self.seq.value}{ack}{data}"


@dataclass(frozen=True)
class Case:
    guard: Guard
    rule: str  # stable id
    why: str
    reply: Reply | None = None  # None: silence
    next: Place | None = None  # None: the place does not change
    accept: bool = False  # the segment's ack, data and FIN are taken (snd_una, rcv_nxt move)
    restart_timer: bool = False
    rearm_min: bool = False  # the retransmission timer is rearmed to TCP_TIMEOUT_MIN (a few ms)


@dataclass(frozen=True)
class Row:
    places: frozenset[Place]
    inputs: frozenset[Input]
    cases: tuple[Case, ...]
    rfc: str
    linux: str = ""


P, I, G, N = Place, Input, Guard, Num  # noqa: E741 (the table reads as P.X, I.Y)
A, R, RA, SA, FA = (
    Flags.ACK,
    Flags.RST,
    Flags.RST | Flags.ACK,
    Flags.SYN | Flags.ACK,
    Flags.FIN | Flags.ACK,
)

RSTS = frozenset(i for i in Input if i.is_rst)
SYNS = frozenset({I.SYN_NEW, I.SYN_REPEAT, I.SYN_OLD})
SYN_ACKS = frozenset({I.SYN_ACK_GOOD, I.SYN_ACK_BAD})
ACKS = frozenset(i for i in Input if i.name.startswith("ACK_"))
APPS = frozenset(i for i in Input if i.name.startswith("APP_"))
TIMERS = frozenset(i for i in Input if i.name.startswith("TIMER_"))
OPEN = frozenset({P.SYN_RECEIVED, P.ESTABLISHED, P.FIN_WAIT_1, P.FIN_WAIT_2})
AFTER_FIN = frozenset({P.CLOSE_WAIT, P.CLOSING, P.LAST_ACK})
SYNC = OPEN | AFTER_FIN
MINI = frozenset({P.TIME_WAIT, P.ORPHAN_FIN_WAIT_2})
FIN_OUT = frozenset({P.FIN_WAIT_1, P.CLOSING, P.LAST_ACK})  # our FIN is not yet acked

CHALLENGE = Reply(A, N.SND_NXT, N.RCV_NXT)
ACK_IT = Reply(A, N.SND_NXT, N.SEG_END, delayed=True)
RST_FROM_ACK = Reply(R, N.SEG_ACK)
RST_NO_ACK = Reply(RA, N.ZERO, N.SEG_END)
SYNACK = Reply(SA, N.ISS, N.RCV_NXT)
_LIMIT_NOTE = N_("Linux rate-limits these ACKs per socket (tcp_invalid_ratelimit, 500 ms)")
_SEND_NOTE = N_(
    "tcp_sendmsg_locked cuts the bytes into segments of mss_cache (the peer's MSS option, 536 "
    "without one, less 12 bytes when timestamps are on); tcp_push -> tcp_mark_push sets PSH on "
    "the last; not modelled: Nagle (tcp_nagle_check), the congestion window (10 segments at "
    "first, 1 after an RTO), the peer's window"
)
_SYN_GIVE_UP_NOTE = N_(
    "tcp_write_timeout, when the timer runs: give up once icsk_retransmits >= tcp_syn_retries + "
    "tcp_syn_linear_timeouts, or, after a retransmission, once the time since the first SYN "
    "(retrans_stamp) reaches tcp_model_timeout(tcp_syn_retries): (2 << n) - 1 s as if the 1 s "
    "RTO doubled n times (retransmits_timed_out); linear timeouts reach that time sooner"
)
_OVERFLOW_NOTE = N_(
    "tcp_check_req: syn_recv_sock makes no child while sk_acceptq_is_full (its length exceeds the "
    "backlog): listen_overflow counts ListenOverflows; with tcp_abort_on_overflow = 0 the request "
    "is marked acked and kept (its timer resends the SYN+ACK), with 1 embryonic_reset: "
    "tcp_v4_send_reset (seq = its ack) and the request is dropped"
)
# the accept queue is full and tcp_abort_on_overflow = 1: the third ACK is answered with RST
_OVERFLOW_ABORT = Case(
    G.ACCEPT_QUEUE_ABORT,
    "request-ack-accept-queue-abort",
    N_(
        "the accept queue is full and tcp_abort_on_overflow = 1: RST, seq = its ack; request removed"
    ),
    RST_FROM_ACK,
    P.LISTEN,
)
_CSUM_NOTE = N_(
    "tcp_v4_rcv: tcp_checksum_complete fails -> csum_error: counted in TcpInCsumErrors (and "
    "TcpInErrs), dropped before any socket sees it, so a closed port sends no RST either"
)
_TW_REUSE_NOTE = N_(
    "__inet_check_established -> tcp_twsk_unique: an ephemeral port may take over a 4-tuple in "
    "TIME_WAIT only with tcp_tw_reuse = 1 (2, the default: only if an address is loopback), "
    "timestamps on the old connection (tw_ts_recent_stamp, so PAWS guards the new one) and "
    "tcp_tw_reuse_delay ms (1000) since TIME_WAIT began; write_seq = tw_snd_nxt + 65535 + 2. "
    "Otherwise that port is skipped: with none left, EADDRNOTAVAIL. A port bound with bind() "
    "and SO_REUSEADDR skips tcp_tw_reuse and the delay (not modelled: the call log does not say)"
)
_RTO_NOTE = N_(
    "tcp_retransmit_timer: the first RTO is srtt/8 + rttvar, rttvar at least tcp_rto_min (200 ms): "
    "about 0.2 s plus the handshake's RTT on a fast link (0.208 s measured here), doubling each "
    "time (tcp_retries2 = 15 before giving up: not modelled); the segment goes again as it was "
    "(its PSH too), at snd_una"
)
_BAD_ACK_NOTE = N_(
    "tcp_rcv_synsent_state_process: an ack <= ISS or > snd_nxt rearms ICSK_TIME_RETRANS to "
    "TCP_TIMEOUT_MIN (2 jiffies) while icsk_retransmits == 0, then reset_and_undo; "
    "tcp_v4_send_reset answers it with a RST unless it is a RST itself"
)


def _row(
    places: Iterable[Place], inputs: Iterable[Input], *cases: Case, rfc: str, linux: str = ""
) -> Row:
    return Row(frozenset(places), frozenset(inputs), tuple(cases), rfc, linux)


def _drop(rule: str, why: str, nxt: Place | None = None) -> Case:
    return Case(G.ALWAYS, rule, why, None, nxt)


def _limited(
    rule: str, why: str, limited: str, reply: Reply = CHALLENGE, restart: bool = False
) -> tuple[Case, Case]:
    """The answer `why` with `reply`, and its rate-limited twin (`limited`: the same words, then
    "; a second one within 500 ms gets none"), which sends nothing."""
    return (
        Case(G.RATE_LIMITED, rule + "-rate-limited", limited),
        Case(G.ALWAYS, rule, why, reply, restart_timer=restart),
    )


# close() (or shutdown) with unread data: Linux resets instead of closing (tcp_close)
_CLOSE_UNREAD = Case(
    G.UNREAD_DATA,
    "close-unread-rst",
    N_("close() with unread data sends RST+ACK, no TIME_WAIT"),
    Reply(RA, N.SND_NXT, N.RCV_NXT),
    P.NO_SOCKET,
)

ROWS: tuple[Row, ...] = (
    # ---- no socket (tcp_v4_send_reset) ----
    _row(
        [P.NO_SOCKET],
        RSTS,
        _drop("closed-rst", N_("a RST is never answered")),
        rfc="RFC 9293 §3.10.7.1",
    ),
    _row(
        [P.NO_SOCKET],
        SYN_ACKS | ACKS,
        Case(
            G.ALWAYS,
            "closed-ack",
            N_("no socket owns this port: a segment with ACK gets a RST without ACK"),
            RST_FROM_ACK,
        ),
        rfc="RFC 9293 §3.10.7.1",
    ),
    _row(
        [P.NO_SOCKET],
        SYNS | {I.SYN_FIN, I.NO_ACK},
        Case(
            G.ALWAYS,
            "closed-no-ack",
            N_("no socket owns this port: a segment without ACK gets RST+ACK"),
            RST_NO_ACK,
        ),
        rfc="RFC 9293 §3.10.7.1",
    ),
    _row(
        [P.NO_SOCKET],
        [I.APP_LISTEN],
        _drop("listen", N_("listen() opens a listener"), P.LISTEN),
        rfc="RFC 9293 §3.10.1",
    ),
    _row(
        [P.NO_SOCKET],
        [I.APP_CONNECT],
        Case(
            G.ALWAYS,
            "connect-syn",
            N_("connect() sends a SYN with the kernel's ISN"),
            Reply(Flags.SYN, N.ISS),
            P.SYN_SENT,
        ),
        rfc="RFC 9293 §3.10.1",
    ),
    _row(
        [P.NO_SOCKET],
        (APPS - {I.APP_LISTEN, I.APP_CONNECT}) | TIMERS,
        _drop("closed-idle", N_("nothing to do")),
        rfc="-",
    ),
    # ---- a bad checksum, wherever it arrives (tcp_v4_rcv) ----
    _row(
        list(Place),
        [I.BAD_CHECKSUM],
        _drop("bad-checksum", N_("a segment whose checksum does not hold is dropped unseen")),
        rfc="RFC 9293 §3.1 (checksum), §3.10.7",
        linux=_CSUM_NOTE,
    ),
    # ---- a listener (tcp_rcv_state_process, tcp_conn_request) ----
    _row(
        [P.LISTEN],
        RSTS | {I.NO_ACK},
        _drop("listen-drop", N_("a listener drops a RST, or a segment without SYN or ACK")),
        rfc="RFC 9293 §3.10.7.2",
    ),
    _row(
        [P.LISTEN],
        [I.SYN_FIN],
        _drop("listen-syn-fin", N_("Linux drops a SYN+FIN at a listener")),
        rfc="RFC 9293 §3.10.7.2",
        linux=N_(
            "RFC 9293 would answer the SYN and ignore the FIN; Linux discards SYN+FIN, "
            "a combination scanners use (tcp_rcv_state_process)"
        ),
    ),
    _row(
        [P.LISTEN],
        SYNS,
        Case(
            G.SYN_QUEUE_FULL_DROP,
            "listen-syn-queue-full",
            N_("the SYN queue is longer than the backlog and cookies are off: the SYN is dropped"),
        ),
        Case(
            G.ACCEPT_QUEUE_FULL,
            "listen-syn-accept-queue-full",
            N_("the accept queue is full: the SYN is dropped"),
        ),
        Case(
            G.COOKIES,
            "listen-syn-cookie",
            N_("SYN+ACK with a cookie as ISN; no request sock, never retransmitted"),
            Reply(SA, N.NEW_ISS, N.SEG_END),
        ),
        Case(
            G.ALWAYS,
            "listen-syn",
            N_("a listener answers a SYN with SYN+ACK, ack = seq + 1"),
            Reply(SA, N.NEW_ISS, N.SEG_END),
            P.REQUEST,
        ),
        rfc="RFC 9293 §3.10.7.2; RFC 4987 (cookies)",
        linux=N_("full only when its length exceeds the backlog; TCPReqQFullDrop, ListenOverflows"),
    ),
    _row(
        [P.LISTEN],
        [I.ACK_COOKIE],
        Case(
            G.ACCEPT_QUEUE_FULL,
            "listen-cookie-ack-accept-queue-full",
            N_("the accept queue is full: the cookie ACK is dropped"),
        ),
        Case(
            G.ALWAYS,
            "listen-cookie-ack",
            N_("the ACK of a cookie SYN+ACK builds an ESTABLISHED socket"),
            None,
            P.ESTABLISHED,
            accept=True,
        ),
        rfc="RFC 4987 §3.6",
        linux="cookie_v4_check",
    ),
    _row(
        [P.LISTEN],
        SYN_ACKS | (ACKS - {I.ACK_COOKIE}),
        Case(
            G.ALWAYS,
            "listen-ack",
            N_("a listener answers a segment with ACK with RST, seq = its ack"),
            RST_FROM_ACK,
        ),
        rfc="RFC 9293 §3.10.7.2",
    ),
    _row(
        [P.LISTEN],
        [I.APP_CLOSE, I.APP_ABORT],
        _drop("listen-close", N_("closing a listener"), P.NO_SOCKET),
        rfc="RFC 9293 §3.10.4",
    ),
    _row(
        [P.LISTEN],
        [I.APP_LISTEN, I.APP_CONNECT, I.APP_SHUTDOWN, I.APP_SEND] + list(TIMERS),
        _drop("listen-idle", N_("nothing is sent")),
        rfc="-",
    ),
    # ---- a request sock (tcp_check_req) ----
    _row(
        [P.REQUEST],
        [I.SYN_REPEAT],
        *_limited(
            "request-syn-again",
            N_("a retransmitted SYN gets the SYN+ACK again"),
            N_("a retransmitted SYN gets the SYN+ACK again; a second one within 500 ms gets none"),
            SYNACK,
            restart=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
        linux=N_(
            "inet_rtx_syn_ack, rate-limited (TCPACKSkippedSynRecv); restarts the request's timer"
        ),
    ),
    _row(
        [P.REQUEST],
        [I.SYN_OLD, I.ACK_OOW, I.ACK_OOW_DATA],
        *_limited(
            "request-out-of-window",
            N_("a segment out of the window gets an ACK"),
            N_("a segment out of the window gets an ACK; a second one within 500 ms gets none"),
        ),
        rfc="RFC 9293 §3.10.7.4",
        linux="TCPACKSkippedSynRecv",
    ),
    _row(
        [P.REQUEST],
        [I.SYN_NEW, I.SYN_FIN],
        Case(
            G.ALWAYS,
            "request-syn-reset",
            N_("a new SYN in the window resets the request"),
            RST_NO_ACK,
            P.LISTEN,
        ),
        rfc="RFC 9293 §3.10.7.4",
        linux="embryonic_reset",
    ),
    _row(
        [P.REQUEST],
        [I.RST_EXACT],
        _drop("request-rst", N_("a RST at rcv_nxt removes the request silently"), P.LISTEN),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.REQUEST],
        [I.RST_IN_WINDOW, I.RST_SACK_EDGE],
        Case(
            G.ALWAYS,
            "rst-in-window-request",
            N_(
                "a RST in the window but not at rcv_nxt gets a challenge ACK, from the request sock too"
            ),
            CHALLENGE,
        ),
        rfc="RFC 5961 §3.2",
        linux=N_(
            "tcp_check_req: the request stays (seen on 6.x, scenarios/linux-syn-received-segments)"
        ),
    ),
    _row(
        [P.REQUEST],
        [I.RST_OUT_OF_WINDOW, I.RST_BAD_ACK, I.RST_BEFORE_BY_ONE, I.NO_ACK],
        _drop("request-drop", N_("dropped: out of window RST, or no ACK")),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.REQUEST],
        [I.SYN_ACK_GOOD, I.SYN_ACK_BAD, I.ACK_BAD, I.ACK_OLD, I.ACK_COOKIE],
        Case(
            G.ALWAYS,
            "request-bad-ack",
            N_("the ACK does not acknowledge the SYN+ACK: RST, seq = its ack"),
            RST_FROM_ACK,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.REQUEST],
        [I.ACK_PURE, I.ACK_OF_FIN],
        _OVERFLOW_ABORT,
        Case(
            G.ACCEPT_QUEUE_FULL,
            "request-ack-accept-queue-full",
            N_("accept queue full: the third ACK is dropped, the request stays, SYN+ACK resent"),
        ),
        Case(
            G.ALWAYS,
            "request-ack",
            N_("the ACK of the SYN+ACK completes the handshake (before accept())"),
            None,
            P.ESTABLISHED,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
        linux=_OVERFLOW_NOTE,
    ),
    _row(
        [P.REQUEST],
        [I.ACK_DATA, I.ACK_DATA_AHEAD],
        _OVERFLOW_ABORT,
        Case(
            G.ACCEPT_QUEUE_FULL,
            "request-ack-accept-queue-full",
            N_("the accept queue is full: the third ACK is dropped"),
        ),
        Case(
            G.ALWAYS,
            "request-ack-data",
            N_("the handshake completes and the data is acknowledged"),
            ACK_IT,
            P.ESTABLISHED,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.REQUEST],
        [I.ACK_FIN, I.ACK_FIN_OF_FIN],
        _OVERFLOW_ABORT,
        Case(
            G.ACCEPT_QUEUE_FULL,
            "request-ack-accept-queue-full",
            N_("the accept queue is full: the third ACK is dropped"),
        ),
        Case(
            G.ALWAYS,
            "request-ack-fin",
            N_("the handshake completes and the FIN is acknowledged"),
            ACK_IT,
            P.CLOSE_WAIT,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.REQUEST],
        [I.TIMER_RETRANSMIT],
        Case(
            G.ALWAYS,
            "request-synack-retransmit",
            N_("the SYN+ACK is retransmitted (tcp_synack_retries)"),
            SYNACK,
        ),
        rfc="RFC 6298",
        linux=N_("1 s, doubling"),
    ),
    _row(
        [P.REQUEST],
        [I.TIMER_GIVE_UP],
        _drop(
            "request-expired",
            N_("after tcp_synack_retries the request is dropped silently"),
            P.LISTEN,
        ),
        rfc="RFC 9293 §3.8.1",
        linux=N_(
            "reqsk_timer_handler -> syn_ack_recalc counts retransmissions (num_timeout >= "
            "tcp_synack_retries), not time: 1, 3, 7 s ... then dropped; with the SYN queue over half "
            "full (qlen * 2 > max(8, backlog)) old requests get fewer retries (not modelled)"
        ),
    ),
    _row(
        [P.REQUEST], APPS | {I.TIMER_EXPIRE}, _drop("request-idle", N_("nothing is sent")), rfc="-"
    ),
    # ---- the kernel as client (tcp_rcv_synsent_state_process) ----
    _row(
        [P.SYN_SENT],
        [I.RST_EXACT],
        _drop(
            "syn-sent-rst",
            N_("a RST acking our SYN refuses the connection (ECONNREFUSED)"),
            P.NO_SOCKET,
        ),
        rfc="RFC 9293 §3.10.7.3",
    ),
    _row(
        [P.SYN_SENT],
        RSTS - {I.RST_EXACT, I.RST_BAD_ACK},
        _drop("syn-sent-rst-ignored", N_("a RST without ACK is dropped")),
        rfc="RFC 9293 §3.10.7.3",
        linux=N_("tcp_rcv_synsent_state_process: discard_and_undo, the SYN timer is not touched"),
    ),
    _row(
        [P.SYN_SENT],
        [I.RST_BAD_ACK],
        Case(
            G.SYN_RETRANSMITTED,
            "syn-sent-rst-bad-ack-retransmitted",
            N_(
                "a RST whose ack is not ISS + 1 is dropped; the SYN was resent already, so its timer "
                "runs on"
            ),
        ),
        Case(
            G.ALWAYS,
            "syn-sent-rst-bad-ack",
            N_(
                "a RST whose ack is not ISS + 1 is dropped, but it cuts the SYN's retransmission "
                "timer to TCP_TIMEOUT_MIN: the SYN goes out again a few ms later"
            ),
            rearm_min=True,
        ),
        rfc="RFC 9293 §3.10.7.3",
        linux=_BAD_ACK_NOTE,
    ),
    _row(
        [P.SYN_SENT],
        [I.SYN_ACK_GOOD],
        Case(
            G.ALWAYS,
            "syn-sent-syn-ack",
            N_("the SYN+ACK completes the active open: ACK"),
            Reply(A, N.SND_NXT, N.SEG_END),
            P.ESTABLISHED,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.3",
    ),
    _row(
        [P.SYN_SENT],
        [I.SYN_ACK_BAD, I.ACK_BAD],
        Case(
            G.SYN_RETRANSMITTED,
            "syn-sent-bad-ack-retransmitted",
            N_(
                "an old duplicate: RST with seq = its ack; the SYN was resent already, its timer runs on"
            ),
            RST_FROM_ACK,
        ),
        Case(
            G.ALWAYS,
            "syn-sent-bad-ack",
            N_("an old duplicate: RST with seq = its ack; the SYN is resent a few ms later"),
            RST_FROM_ACK,
            rearm_min=True,
        ),
        rfc="RFC 9293 §3.5",
        linux=_BAD_ACK_NOTE,
    ),
    _row(
        [P.SYN_SENT],
        SYNS | {I.SYN_FIN},
        Case(
            G.ALWAYS,
            "simultaneous-open",
            N_("a SYN while ours is out: SYN+ACK"),
            Reply(SA, N.ISS, N.SEG_END),
            P.SYN_RECEIVED,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.3",
    ),
    _row(
        [P.SYN_SENT],
        (ACKS - {I.ACK_BAD}) | {I.NO_ACK},
        _drop("syn-sent-drop", N_("without SYN or RST a segment is dropped in SYN_SENT")),
        rfc="RFC 9293 §3.10.7.3 (fifth check)",
    ),
    _row(
        [P.SYN_SENT],
        [I.TIMER_RETRANSMIT],
        Case(
            G.TIMER_SHORTENED,
            "syn-retransmit-early",
            N_(
                "the retransmission timer, cut to TCP_TIMEOUT_MIN by an unacceptable ack, fires: "
                "the SYN is retransmitted"
            ),
            Reply(Flags.SYN, N.ISS),
        ),
        Case(
            G.ALWAYS,
            "syn-retransmit",
            N_("the SYN is retransmitted (tcp_syn_retries, tcp_syn_linear_timeouts)"),
            Reply(Flags.SYN, N.ISS),
        ),
        rfc="RFC 6298",
    ),
    _row(
        [P.SYN_SENT],
        [I.APP_CLOSE, I.APP_ABORT],
        _drop("syn-sent-close", N_("the connection attempt ends"), P.NO_SOCKET),
        rfc="RFC 9293 §3.10.4",
    ),
    _row(
        [P.SYN_SENT],
        [I.TIMER_GIVE_UP],
        _drop(
            "syn-sent-timed-out",
            N_("the SYN's retries are over: connect() fails with ETIMEDOUT, nothing more is sent"),
            P.NO_SOCKET,
        ),
        rfc="RFC 9293 §3.8.3",
        linux=_SYN_GIVE_UP_NOTE,
    ),
    _row(
        [P.SYN_SENT],
        [I.APP_LISTEN, I.APP_CONNECT, I.APP_SHUTDOWN, I.TIMER_EXPIRE],
        _drop("syn-sent-idle", N_("nothing is sent")),
        rfc="-",
    ),
    # ---- synchronized full sockets (tcp_validate_incoming, RFC 5961) ----
    _row(
        SYNC,
        [I.RST_EXACT],
        _drop("rst-exact", N_("a RST with seq = rcv_nxt resets the connection"), P.NO_SOCKET),
        rfc="RFC 5961 §3.2",
    ),
    _row(
        AFTER_FIN,
        [I.RST_BEFORE_BY_ONE],
        _drop(
            "rst-before-fin",
            N_("after the peer's FIN, a RST at rcv_nxt - 1 also resets"),
            P.NO_SOCKET,
        ),
        rfc="RFC 5961 §3.2",
        linux="tcp_reset_check",
    ),
    _row(
        SYNC,
        [I.RST_SACK_EDGE],
        _drop(
            "rst-sack-edge",
            N_("a RST at the right edge of the highest SACK block resets"),
            P.NO_SOCKET,
        ),
        rfc="RFC 5961 §3.2",
        linux=N_("tcp_validate_incoming: RST at the SACK right edge"),
    ),
    _row(
        SYNC,
        [I.RST_IN_WINDOW],
        *_limited(
            "rst-in-window",
            N_("a RST in the window but not at rcv_nxt: challenge ACK"),
            N_(
                "a RST in the window but not at rcv_nxt: challenge ACK; a second one within 500 ms gets none"
            ),
        ),
        rfc="RFC 5961 §3.2",
        linux=_LIMIT_NOTE,
    ),
    _row(
        SYNC,
        [I.RST_OUT_OF_WINDOW, I.RST_BAD_ACK],
        _drop("rst-out-of-window", N_("a RST outside the window is dropped")),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        OPEN,
        [I.RST_BEFORE_BY_ONE],
        _drop("rst-out-of-window", N_("a RST before rcv_nxt is outside the window: dropped")),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.SYN_RECEIVED],
        [I.SYN_ACK_GOOD],
        # a simultaneous open: the peer's SYN+ACK is its SYN again, now acking ours
        Case(
            G.SYN_ACK_REPEATS_SYN,
            "simultaneous-open-synack",
            N_("the peer's SYN+ACK repeats its SYN and acks ours: ESTABLISHED, and an ACK"),
            CHALLENGE,
            P.ESTABLISHED,
            accept=True,
        ),
        *_limited(
            "syn-challenge-ack",
            N_("a SYN on a synchronized connection: challenge ACK"),
            N_(
                "a SYN on a synchronized connection: challenge ACK; a second one within 500 ms gets none"
            ),
        ),
        rfc="RFC 9293 §3.5 (figure 7); RFC 5961 §4.2",
        linux=N_("tcp_validate_incoming: the SYN_RECV exception for a simultaneous open"),
    ),
    _row(
        SYNC - {P.SYN_RECEIVED},
        SYNS | SYN_ACKS | {I.SYN_FIN},
        *_limited(
            "syn-challenge-ack",
            N_("a SYN on a synchronized connection: challenge ACK"),
            N_(
                "a SYN on a synchronized connection: challenge ACK; a second one within 500 ms gets none"
            ),
        ),
        rfc="RFC 5961 §4.2",
        linux=_LIMIT_NOTE,
    ),
    _row(
        [P.SYN_RECEIVED],
        SYNS | {I.SYN_ACK_BAD, I.SYN_FIN},
        *_limited(
            "syn-challenge-ack",
            N_("a SYN on a synchronized connection: challenge ACK"),
            N_(
                "a SYN on a synchronized connection: challenge ACK; a second one within 500 ms gets none"
            ),
        ),
        rfc="RFC 5961 §4.2",
        linux=_LIMIT_NOTE,
    ),
    _row(
        SYNC,
        [I.NO_ACK],
        _drop("no-ack-dropped", N_("a segment without ACK is dropped in a synchronized state")),
        rfc="RFC 9293 §3.10.7.4 (fifth check)",
    ),
    _row(
        SYNC,
        [I.ACK_BAD],
        *_limited(
            "ack-unsent",
            N_("an ACK of data never sent is dropped, and answered with an ACK"),
            N_(
                "an ACK of data never sent is dropped, and answered with an ACK; a second one "
                "within 500 ms gets none"
            ),
        ),
        rfc="RFC 9293 §3.10.7.4 (fifth check); RFC 5961 §5.2",
        linux=N_(
            "tcp_ack drops ack > snd_nxt (TCP_ACK_UNSENT_DATA); the answer is a challenge ACK, "
            "rate-limited per socket even when the segment carries data (tcp_send_challenge_ack)"
        ),
    ),
    _row(
        SYNC,
        [I.ACK_OLD, I.ACK_OOW, I.ACK_COOKIE],
        *_limited(
            "dup-ack",
            N_("a segment out of the window gets a duplicate ACK"),
            N_(
                "a segment out of the window gets a duplicate ACK; a second one within 500 ms gets none"
            ),
        ),
        rfc="RFC 9293 §3.10.7.4; RFC 5961 §5.2",
        linux=_LIMIT_NOTE,
    ),
    _row(
        SYNC,
        [I.ACK_OOW_DATA],
        Case(
            G.ALWAYS,
            "dup-ack-data",
            N_("data or a FIN out of the window: duplicate ACK, never rate-limited"),
            CHALLENGE,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.SYN_RECEIVED],
        [I.ACK_PURE, I.ACK_OF_FIN],
        Case(
            G.ALWAYS,
            "syn-received-ack",
            N_("the ACK of our SYN completes the handshake"),
            None,
            P.ESTABLISHED,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        SYNC - {P.SYN_RECEIVED},
        [I.ACK_PURE],
        Case(G.ALWAYS, "ack", N_("an acceptable pure ACK needs no answer"), accept=True),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.ESTABLISHED, P.FIN_WAIT_2, P.CLOSE_WAIT],
        [I.ACK_OF_FIN],
        Case(G.ALWAYS, "ack", N_("an acceptable pure ACK needs no answer"), accept=True),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.FIN_WAIT_1],
        [I.ACK_OF_FIN],
        Case(
            G.ORPHAN,
            "fin-wait-1-acked-orphan",
            N_("our FIN is acked, the application closed: orphan FIN_WAIT_2 (tcp_fin_timeout)"),
            None,
            P.ORPHAN_FIN_WAIT_2,
            accept=True,
        ),
        Case(
            G.ALWAYS,
            "fin-wait-1-acked",
            N_("our FIN is acked: FIN_WAIT_2"),
            None,
            P.FIN_WAIT_2,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.CLOSING],
        [I.ACK_OF_FIN],
        Case(
            G.ALWAYS,
            "closing-acked",
            N_("our FIN is acked: TIME_WAIT (60 s)"),
            None,
            P.TIME_WAIT,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.LAST_ACK],
        [I.ACK_OF_FIN],
        Case(
            G.ALWAYS,
            "last-ack-acked",
            N_("our FIN is acked: the connection is gone"),
            None,
            P.NO_SOCKET,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        OPEN - {P.SYN_RECEIVED},
        [I.ACK_DATA],
        Case(
            G.ORPHAN,
            "orphan-data-rst",
            N_("data for a closed application: RST, seq = its ack"),
            RST_FROM_ACK,
            P.NO_SOCKET,
        ),
        Case(
            G.ALWAYS,
            "data-ack",
            N_("data at rcv_nxt is acknowledged, ack = seq + len"),
            ACK_IT,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4 (seventh check)",
        linux=N_("the ACK may be delayed (delayed ACK); TCPAbortOnData"),
    ),
    _row(
        [P.SYN_RECEIVED],
        [I.ACK_DATA],
        Case(
            G.ALWAYS,
            "syn-received-data",
            N_("the ACK completes the handshake and its data is acked"),
            ACK_IT,
            P.ESTABLISHED,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        OPEN,
        [I.ACK_DATA_AHEAD],
        Case(
            G.ALWAYS,
            "out-of-order",
            N_("data beyond rcv_nxt: an immediate duplicate ACK with a SACK block"),
            CHALLENGE,
        ),
        rfc="RFC 9293 §3.10.7.4; RFC 2018",
    ),
    _row(
        AFTER_FIN,
        [I.ACK_DATA, I.ACK_DATA_AHEAD, I.ACK_FIN, I.ACK_FIN_OF_FIN],
        _drop("data-after-fin", N_("data after the peer's FIN is ignored")),
        rfc="RFC 9293 §3.10.7.4 (seventh check)",
    ),
    _row(
        [P.ESTABLISHED, P.SYN_RECEIVED],
        [I.ACK_FIN, I.ACK_FIN_OF_FIN],
        Case(
            G.ALWAYS,
            "fin",
            N_("the peer's FIN is acknowledged: CLOSE_WAIT"),
            ACK_IT,
            P.CLOSE_WAIT,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4 (eighth check)",
        linux=N_("the ACK may come from the delayed-ACK timer"),
    ),
    _row(
        [P.FIN_WAIT_1],
        [I.ACK_FIN],
        Case(
            G.ALWAYS,
            "simultaneous-close",
            N_("the peer's FIN before the ACK of ours: CLOSING"),
            ACK_IT,
            P.CLOSING,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.FIN_WAIT_1, P.FIN_WAIT_2],
        [I.ACK_FIN_OF_FIN],
        Case(
            G.ALWAYS,
            "fin-to-time-wait",
            N_("the peer's FIN with the ACK of ours: TIME_WAIT"),
            ACK_IT,
            P.TIME_WAIT,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.FIN_WAIT_2],
        [I.ACK_FIN],
        Case(
            G.ALWAYS,
            "fin-to-time-wait",
            N_("the peer's FIN in FIN_WAIT_2: TIME_WAIT"),
            ACK_IT,
            P.TIME_WAIT,
            accept=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.ESTABLISHED, P.SYN_RECEIVED],
        [I.APP_CLOSE, I.APP_SHUTDOWN],
        _CLOSE_UNREAD,
        Case(
            G.ALWAYS,
            "close-fin",
            N_("close() sends FIN: FIN_WAIT_1"),
            Reply(FA, N.SND_NXT, N.RCV_NXT),
            P.FIN_WAIT_1,
        ),
        rfc="RFC 9293 §3.10.4; RFC 2525 §2.17",
        linux="TCPAbortOnClose",
    ),
    _row(
        [P.CLOSE_WAIT],
        [I.APP_CLOSE, I.APP_SHUTDOWN],
        _CLOSE_UNREAD,
        Case(
            G.ALWAYS,
            "close-wait-fin",
            N_("close() sends FIN: LAST_ACK"),
            Reply(FA, N.SND_NXT, N.RCV_NXT),
            P.LAST_ACK,
        ),
        rfc="RFC 9293 §3.10.4",
    ),
    _row(
        SYNC,
        [I.APP_ABORT],
        Case(
            G.ALWAYS,
            "abort-rst",
            N_("SO_LINGER 0 or unread data: RST+ACK, no TIME_WAIT"),
            Reply(RA, N.SND_NXT, N.RCV_NXT),
            P.NO_SOCKET,
        ),
        rfc="RFC 9293 §3.10.5",
        linux="TCPAbortOnClose / TCPAbortOnData",
    ),
    _row(
        FIN_OUT | {P.FIN_WAIT_2},
        [I.APP_CLOSE, I.APP_SHUTDOWN],
        _drop("already-closed", N_("our FIN is already sent")),
        rfc="RFC 9293 §3.10.4",
    ),
    # ---- send() (tcp_sendmsg_locked) ----
    _row(
        [P.ESTABLISHED, P.CLOSE_WAIT],
        [I.APP_SEND],
        Case(
            G.MORE_DATA,
            "send-data-full",
            N_("send(): a full segment of the application's bytes, more follow"),
            Reply(A, N.SND_NXT, N.RCV_NXT, data=True),
        ),
        Case(
            G.ALWAYS,
            "send-data",
            N_("send(): the application's bytes go out at once, PSH on the last segment"),
            Reply(Flags.PSH | Flags.ACK, N.SND_NXT, N.RCV_NXT, data=True),
        ),
        rfc="RFC 9293 §3.10.2",
        linux=_SEND_NOTE,
    ),
    _row(
        [P.SYN_SENT, P.SYN_RECEIVED],
        [I.APP_SEND],
        _drop(
            "send-not-connected",
            N_(
                "send() before the handshake completes: nothing is sent (a non-blocking socket "
                "gets EAGAIN, a blocking one waits)"
            ),
        ),
        rfc="RFC 9293 §3.10.2",
        linux=N_("tcp_sendmsg_locked -> sk_stream_wait_connect"),
    ),
    _row(
        FIN_OUT | {P.FIN_WAIT_2},
        [I.APP_SEND],
        _drop(
            "send-after-shutdown",
            N_("send() after shutdown or close fails with EPIPE: nothing is sent"),
        ),
        rfc="RFC 9293 §3.10.2",
        linux=N_("tcp_sendmsg_locked: sk_shutdown & SEND_SHUTDOWN -> EPIPE (and SIGPIPE)"),
    ),
    _row(
        SYNC,
        [I.APP_LISTEN, I.APP_CONNECT],
        _drop("sync-app-idle", N_("the call fails (EISCONN/EINVAL); nothing is sent")),
        rfc="-",
    ),
    _row(
        FIN_OUT,
        [I.TIMER_RETRANSMIT],
        Case(
            G.ALWAYS,
            "fin-retransmit",
            N_("our FIN is retransmitted"),
            Reply(FA, N.SND_NXT_LESS_1, N.RCV_NXT),
        ),
        rfc="RFC 6298",
    ),
    _row(
        [P.SYN_RECEIVED],
        [I.TIMER_RETRANSMIT],
        Case(G.ALWAYS, "synack-retransmit", N_("our SYN+ACK is retransmitted"), SYNACK),
        rfc="RFC 6298",
    ),
    _row(
        FIN_OUT | {P.SYN_RECEIVED},
        [I.TIMER_GIVE_UP],
        _drop("retries-exhausted", N_("retries exhausted: the connection is dropped"), P.NO_SOCKET),
        rfc="RFC 9293 §3.8.3",
    ),
    _row(
        [P.ESTABLISHED, P.CLOSE_WAIT],
        [I.TIMER_RETRANSMIT],
        Case(
            G.ALWAYS,
            "data-retransmit",
            N_(
                "the retransmission timer ran out with data unacknowledged: the first "
                "unacknowledged segment goes again"
            ),
            Reply(Flags.PSH | Flags.ACK, N.SND_UNA, N.RCV_NXT, data=True),
        ),
        rfc="RFC 6298 §5.4",
        linux=_RTO_NOTE,
    ),
    _row(
        [P.FIN_WAIT_2],
        [I.TIMER_RETRANSMIT],
        _drop("no-timer", N_("nothing outstanding: no retransmission")),
        rfc="-",
    ),
    _row(
        [P.ESTABLISHED, P.FIN_WAIT_2, P.CLOSE_WAIT],
        [I.TIMER_GIVE_UP],
        _drop("no-timer", N_("nothing outstanding: no retransmission")),
        rfc="-",
        linux=N_("ESTABLISHED gives up after tcp_retries2 (15) retransmissions: not modelled"),
    ),
    _row(
        SYNC,
        [I.TIMER_EXPIRE],
        _drop("no-timer", N_("a full socket has no TIME_WAIT timer"), None),
        rfc="-",
        linux=N_("FIN_WAIT_2 after shutdown() has no timer"),
    ),
    # ---- TIME_WAIT mini socket (tcp_timewait_state_process) ----
    _row(
        [P.TIME_WAIT],
        [I.RST_EXACT],
        Case(G.RFC1337, "time-wait-rst-rfc1337", N_("tcp_rfc1337 = 1: the RST is ignored")),
        Case(
            G.ALWAYS,
            "time-wait-rst",
            N_("a RST at rcv_nxt kills TIME_WAIT (TIME-WAIT assassination)"),
            None,
            P.NO_SOCKET,
        ),
        rfc="RFC 1337",
        linux=N_("tcp_rfc1337 = 0 by default"),
    ),
    _row(
        [P.TIME_WAIT],
        RSTS - {I.RST_EXACT},
        _drop("time-wait-rst-ignored", N_("a RST not at rcv_nxt is dropped")),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.TIME_WAIT],
        [I.SYN_NEW],
        Case(
            G.LISTENER,
            "time-wait-reopen",
            N_("a SYN above rcv_nxt (or newer timestamp) reopens: ISN = old snd_nxt + 65537"),
            Reply(SA, N.NEW_ISS, N.SEG_END),
            P.REQUEST,
        ),
        Case(G.ALWAYS, "time-wait-ack", N_("TIME_WAIT answers with its ACK"), CHALLENGE),
        rfc="RFC 6191",
        linux="TCP_TW_SYN",
    ),
    _row(
        [P.TIME_WAIT],
        [I.SYN_REPEAT, I.SYN_OLD, I.SYN_FIN, I.NO_ACK],
        *_limited(
            "time-wait-ack",
            N_("TIME_WAIT answers with its ACK"),
            N_("TIME_WAIT answers with its ACK; a second one within 500 ms gets none"),
        ),
        rfc="RFC 9293 §3.10.7.4",
        linux="TCPACKSkippedTimeWait",
    ),
    _row(
        [P.TIME_WAIT],
        [I.ACK_PURE],
        _drop("time-wait-ack-in-window", N_("a bare ACK at rcv_nxt is dropped")),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.TIME_WAIT],
        SYN_ACKS | (ACKS - {I.ACK_PURE}),
        *_limited(
            "time-wait-ack",
            N_("TIME_WAIT answers with its ACK and restarts its 60 s timer"),
            N_(
                "TIME_WAIT answers with its ACK and restarts its 60 s timer; a second one within "
                "500 ms gets none"
            ),
            CHALLENGE,
            restart=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
        linux=N_("a retransmitted FIN is ACKed again (not rate-limited) and restarts the timer"),
    ),
    # ---- orphaned FIN_WAIT_2 mini socket ----
    _row(
        [P.ORPHAN_FIN_WAIT_2],
        [I.RST_EXACT, I.RST_IN_WINDOW, I.RST_SACK_EDGE],
        _drop("orphan-rst", N_("a RST in the window kills the orphan"), P.NO_SOCKET),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.ORPHAN_FIN_WAIT_2],
        [
            I.RST_OUT_OF_WINDOW,
            I.RST_BAD_ACK,
            I.RST_BEFORE_BY_ONE,
            I.NO_ACK,
            I.ACK_PURE,
            I.ACK_OF_FIN,
            I.ACK_BAD,
            I.ACK_COOKIE,
        ],
        _drop("orphan-drop", N_("dropped: out-of-window RST, no ACK, or a duplicate ACK")),
        rfc="RFC 9293 §3.10.7.4",
        linux=N_("not verified on this kernel for RSTs out of window"),
    ),
    _row(
        [P.ORPHAN_FIN_WAIT_2],
        [I.SYN_OLD, I.ACK_OOW, I.ACK_OOW_DATA, I.ACK_OLD],
        *_limited(
            "orphan-dup-ack",
            N_("out of the window: ACK"),
            N_("out of the window: ACK; a second one within 500 ms gets none"),
        ),
        rfc="RFC 9293 §3.10.7.4",
        linux="TCPACKSkippedFinWait2",
    ),
    _row(
        [P.ORPHAN_FIN_WAIT_2],
        [I.SYN_NEW, I.SYN_REPEAT, I.SYN_FIN],
        Case(G.ALWAYS, "orphan-syn-rst", N_("a SYN in the window: RST"), RST_NO_ACK, P.NO_SOCKET),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.ORPHAN_FIN_WAIT_2],
        SYN_ACKS | {I.ACK_DATA, I.ACK_DATA_AHEAD},
        Case(
            G.ALWAYS,
            "orphan-data-rst",
            N_("data for a closed application: RST, seq = its ack"),
            RST_FROM_ACK,
            P.NO_SOCKET,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        [P.ORPHAN_FIN_WAIT_2],
        [I.ACK_FIN, I.ACK_FIN_OF_FIN],
        Case(
            G.ALWAYS,
            "orphan-fin",
            N_("the peer's FIN: TIME_WAIT, ACK at once, 60 s"),
            Reply(A, N.SND_NXT, N.SEG_END),
            P.TIME_WAIT,
            accept=True,
            restart_timer=True,
        ),
        rfc="RFC 9293 §3.10.7.4",
    ),
    _row(
        MINI,
        [I.TIMER_EXPIRE],
        _drop("mini-expired", N_("the mini socket's timer ran out"), P.NO_SOCKET),
        rfc="RFC 9293 §3.10.8",
        linux=N_("TIME_WAIT 60 s (TCP_TIMEWAIT_LEN); orphan FIN_WAIT_2: tcp_fin_timeout"),
    ),
    _row(
        [P.TIME_WAIT],
        [I.APP_CONNECT],
        Case(
            G.TW_REUSE_OFF,
            "time-wait-connect-off",
            N_(
                "tcp_tw_reuse does not let connect() take a 4-tuple from TIME_WAIT here: "
                "EADDRNOTAVAIL when no other port is free, nothing is sent"
            ),
        ),
        Case(
            G.TW_NO_TIMESTAMPS,
            "time-wait-connect-no-timestamps",
            N_(
                "the old connection had no timestamps, so PAWS could not tell its old segments "
                "from the new one's: EADDRNOTAVAIL when no other port is free, nothing is sent"
            ),
        ),
        Case(
            G.TW_TOO_SOON,
            "time-wait-connect-too-soon",
            N_(
                "TIME_WAIT began less than tcp_tw_reuse_delay ago: EADDRNOTAVAIL when no other "
                "port is free, nothing is sent"
            ),
        ),
        Case(
            G.ALWAYS,
            "time-wait-reuse",
            N_(
                "connect() takes over the 4-tuple from TIME_WAIT: SYN with ISN = old snd_nxt + 65537"
            ),
            Reply(Flags.SYN, N.NEW_ISS),
            P.SYN_SENT,
        ),
        rfc="RFC 9293 §3.6.1; RFC 6191",
        linux=_TW_REUSE_NOTE,
    ),
    _row(
        MINI,
        (APPS - {I.APP_CONNECT}) | {I.TIMER_RETRANSMIT, I.TIMER_GIVE_UP},
        _drop("mini-idle", N_("no application owns a mini socket; nothing is sent")),
        rfc="-",
    ),
    _row(
        [P.ORPHAN_FIN_WAIT_2],
        [I.APP_CONNECT],
        _drop("mini-idle", N_("no application owns a mini socket; nothing is sent")),
        rfc="-",
        linux=N_("a connect() onto an orphan FIN_WAIT_2's 4-tuple: not verified on this kernel"),
    ),
)


def _index() -> dict[tuple[Place, Input], Row]:
    out: dict[tuple[Place, Input], Row] = {}
    for row in ROWS:
        for place in row.places:
            for inp in row.inputs:
                out.setdefault((place, inp), row)
    return out


INDEX = _index()


def rows_for(place: Place, inp: Input) -> list[Row]:
    """Every row covering the pair (exactly one in a sound table)."""
    return [r for r in ROWS if place in r.places and inp in r.inputs]


def lookup(place: Place, inp: Input) -> Row:
    return INDEX[(place, inp)]


def case_for(row: Row, holds: frozenset[Guard]) -> Case:
    """The first case whose guard holds (ALWAYS always does)."""
    return next(c for c in row.cases if c.guard is Guard.ALWAYS or c.guard in holds)


@dataclass(frozen=True)
class Edge:
    """One arrow of the state diagram: from a state to another, on an input, sending a segment."""

    source: State
    target: State
    input: Input
    guard: Guard
    sends: Flags | None
    rule: str


def edges() -> list[Edge]:
    """The state diagram, derived from ROWS: every case that changes the RFC state (or the place)."""
    out: list[Edge] = []
    for row in ROWS:
        for place in sorted(row.places, key=list(Place).index):
            for inp in sorted(row.inputs, key=list(Input).index):
                for case in row.cases:
                    if case.next is None or case.next is place:
                        continue
                    sends = case.reply.flags if case.reply else None
                    out.append(
                        Edge(place.state, case.next.state, inp, case.guard, sends, case.rule)
                    )
    return out
