"""Checks for lab 4 (passive close and TIME_WAIT), on what the kernel host saw.

Sequence numbers are relative to the first handshake: the kernel's FIN is its seq 1; your FIN is your
seq 1. What the kernel must answer in TIME_WAIT (an old SYN or one that reopens, a retransmitted FIN)
comes from tcplab's model: the rule it applies to your segment, and whether the kernel did it.
"""

from tcplab.defaults import APP_PORT
from tcplab.exercise.kit import Checklist, Observation, ObservedConn, Sample
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.state import State
from tcplab.model.table import Place

checks = Checklist()

TIMEWAIT_S = 60.0  # TCP_TIMEWAIT_LEN (include/net/tcp.h)
SLACK_S = 0.25  # the sampler's and the capture's clocks agree far better than this


def _conn(obs: Observation) -> ObservedConn | None:
    """The connection to the application's port that the student opened."""
    return next((c for c in obs.conns if c.kport == APP_PORT and c.crafted(Flags.SYN)), None)


def _rel(conn: ObservedConn, seg: Segment, from_kernel: bool) -> tuple[int | None, int | None]:
    return conn.rel_seq(seg, from_kernel), conn.rel_ack(seg, from_kernel)


def _signed(n: int | None) -> str:
    """A relative sequence number, as '+ 1' or '- 999'."""
    if n is None:
        return "?"
    n = n % 2**32
    return f"+ {n}" if n < 2**31 else f"- {2**32 - n}"


def _kernel_fin(conn: ObservedConn) -> int | None:
    """Index of the kernel's FIN in conn.segments."""
    return next(
        (i for i, s in enumerate(conn.segments) if s.from_kernel and Flags.FIN in s.segment.flags),
        None,
    )


def _tw_entry(conn: ObservedConn) -> int | None:
    """Index of the kernel's ACK of your FIN, when the socket really reached TIME_WAIT: the
    kernel segment the model explains by the FIN that takes it to TIME_WAIT. From here on, the
    connection is in TIME_WAIT."""
    if State.TIME_WAIT not in conn.states():
        return None
    for s in conn.segments:
        seg = s.segment
        if s.from_kernel or Flags.FIN not in seg.flags or Flags.RST in seg.flags:
            continue
        rec = conn.predicted(s)
        if rec is None or rec.prediction.place is not Place.TIME_WAIT or not rec.agrees:
            continue
        ack = conn.answer(s)
        return next((i for i, x in enumerate(conn.segments) if x.segment is ack), None)
    return None


def _bare_ack_seq(conn: ObservedConn) -> int | None:
    """The relative seq of your first segment after the kernel's FIN."""
    k = _kernel_fin(conn)
    mine = [s.segment for s in conn.segments[k + 1 :] if not s.from_kernel] if k is not None else []
    return conn.rel_seq(mine[0], False) if mine else None


def _tw_sample(conn: ObservedConn) -> tuple[Sample, float | None] | None:
    """The first TIME_WAIT stretch of the socket table, and the time the next stretch began."""
    for i, s in enumerate(conn.samples):
        if s.state is State.TIME_WAIT:
            nxt = conn.samples[i + 1].time if i + 1 < len(conn.samples) else None
            return s, nxt
    return None


@checks.add(
    "you ACK the kernel's FIN on its own: ack = its seq + 1",
    2,
    hint="after lab.app_close(), answer the FIN with a bare ACK (flags 'A'): ack = the FIN's "
    "seq + 1, because a FIN occupies one sequence number",
    why="your ACK of its FIN moves the kernel from FIN_WAIT_1 to FIN_WAIT_2",
)
def ack_of_fin(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    k = _kernel_fin(conn) if conn else None
    if conn is None or k is None:
        return False, "the kernel sent no FIN (call lab.app_close() after the handshake)"
    for s in conn.segments[k + 1 :]:
        seg = s.segment
        if s.from_kernel:
            continue
        if seg.flags != Flags.ACK:
            return (
                False,
                f"your first segment after its FIN was {seg.flags.letters}, not a bare ACK",
            )
        rel = conn.rel_ack(seg, False)
        return rel == 2, f"your ack was the kernel's ISN {_signed(rel)}; its FIN was ISN + 1"
    return False, "you sent nothing after the kernel's FIN"


@checks.add(
    "the kernel's socket goes FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT",
    2,
    hint="ACK the kernel's FIN on its own before you send yours: FIN_WAIT_2 lies between them "
    "(a FIN+ACK that does both at once takes the kernel from FIN_WAIT_1 straight to TIME_WAIT)",
    why="the side that closes first passes FIN_WAIT_1 (FIN sent), FIN_WAIT_2 (FIN ACKed), and "
    "TIME_WAIT (the peer's FIN ACKed)",
)
def states(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    if conn is None:
        return False, "no connection"
    seen = conn.states()
    # FIN_WAIT_1 may last less than a sample: the kernel's FIN shows it
    fw1 = State.FIN_WAIT_1 in seen or _kernel_fin(conn) is not None
    # a closed socket's FIN_WAIT_2 is a timewait mini socket with its own timer (a full socket
    # passes FIN_WAIT_2 for microseconds when FIN and ACK arrive together); if the table was not
    # read in time, your bare ACK of the FIN, before your own FIN, shows it
    fw2 = any(s.state is State.FIN_WAIT_2 and s.timer == "timewait" for s in conn.samples)
    fw2 = fw2 or (ack_of_fin(obs)[0] and _bare_ack_seq(conn) == 1)
    return fw1 and fw2 and State.TIME_WAIT in seen, " -> ".join(seen)


@checks.add(
    "your FIN: seq = your ISN + 1, ack = the kernel's FIN + 1",
    2,
    hint="close your side with a FIN (flags 'FA', not R); your bare ACK used no sequence "
    "number, so its seq is still ISN + 1, and it acknowledges the kernel's FIN (its seq + 1)",
    why="the kernel in FIN_WAIT_2 accepts a FIN only at exactly rcv_nxt; then it enters TIME_WAIT",
)
def your_fin(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    k = _kernel_fin(conn) if conn else None
    if conn is None or k is None:
        return False, "the kernel sent no FIN"
    closing = [
        s.segment
        for s in conn.segments[k + 1 :]
        if not s.from_kernel and (Flags.FIN in s.segment.flags or Flags.RST in s.segment.flags)
    ]
    if not closing:
        return False, "you sent no FIN"
    fin = closing[0]
    if fin.flags != Flags.FIN | Flags.ACK:
        return False, f"you closed with {fin.flags.letters}, not FIN+ACK (FA)"
    seq, ack = _rel(conn, fin, False)
    ok = (seq, ack) == (1, 2)
    return ok, f"your FIN had seq ISN {_signed(seq)}, ack the kernel's ISN {_signed(ack)}"


@checks.add(
    "TIME_WAIT has a timer near 60 s (not 2 MSL = 4 min)",
    1,
    hint="the kernel reaches TIME_WAIT when it ACKs your FIN; read its timer with "
    "'ip netns exec ns2 ss -tano' or 'tcplab sockets'",
    why="Linux waits TCP_TIMEWAIT_LEN = 60 s, a constant, not the RFC's 2 MSL",
)
def timer(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    got = _tw_sample(conn) if conn else None
    if got is None:
        return False, "the kernel never reached TIME_WAIT"
    s = got[0]
    ok = s.timer == "timewait" and 50_000 < s.expires_ms <= 60_000
    return ok, f"timer {s.timer}, {s.expires_ms / 1000:.1f} s left"


def _fin_in_tw(conn: ObservedConn) -> tuple[int, Segment] | None:
    """Your last FIN sent in TIME_WAIT (index and segment)."""
    entry = _tw_entry(conn)
    if entry is None:
        return None
    found = None
    for i, s in enumerate(conn.segments[entry + 1 :], start=entry + 1):
        seg = s.segment
        if (
            not s.from_kernel
            and Flags.FIN in seg.flags
            and Flags.SYN not in seg.flags
            and not _tw_ended(conn, i)
        ):
            found = (i, seg)
    return found


def _tw_ended(conn: ObservedConn, index: int) -> bool:
    """The kernel had left TIME_WAIT (a new SYN+ACK went out) before segment `index`."""
    entry = _tw_entry(conn)
    return entry is None or any(
        s.from_kernel and Flags.SYN in s.segment.flags for s in conn.segments[entry:index]
    )


@checks.add(
    "your retransmitted FIN is ACKed again in TIME_WAIT",
    2,
    hint="once in TIME_WAIT, send your FIN again exactly as before (same seq and ack), as if "
    "the kernel's last ACK had been lost",
    why="TIME_WAIT keeps the connection's numbers so that a peer whose last ACK was lost still "
    "gets it: the first reason TIME_WAIT exists (RFC 9293 §3.6)",
)
def fin_again(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    got = _fin_in_tw(conn) if conn else None
    if got is None:
        return False, "no FIN from you while the kernel was in TIME_WAIT"
    i, fin = got
    if _rel(conn, fin, False) != (1, 2):
        return False, "your FIN in TIME_WAIT was not the same as your first FIN"
    ok, said = conn.verdict(fin, "time-wait-ack")
    reply = conn.answer(fin)
    if reply is None:
        return False, f"the kernel did not answer; {said}"
    seq, ack = _rel(conn, reply, True)
    shown = f"answer {reply.flags.letters} seq {seq} ack {ack}"
    return ok, shown if ok else f"{shown}; {said}"


@checks.add(
    "the retransmitted FIN restarts the 60 s timer",
    1,
    hint="wait a second or two in TIME_WAIT (time.sleep(2)), retransmit your FIN, pause a "
    "second (time.sleep(1)) so tcplab reads the timer again, then end TIME_WAIT with your SYNs",
    why="each retransmitted FIN re-arms TIME_WAIT's full 60 s (inet_twsk_reschedule)",
)
def timer_restart(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    entry = _tw_entry(conn) if conn else None
    got = _fin_in_tw(conn) if conn else None
    tw = _tw_sample(conn) if conn else None
    if entry is None or got is None or tw is None:
        return False, "no FIN from you while the kernel was in TIME_WAIT"
    t_tw, t_fin = conn.segments[entry].time, conn.segments[got[0]].time
    if t_fin - t_tw < 1.0:
        return False, f"you retransmitted only {t_fin - t_tw:.2f} s into TIME_WAIT"
    sample, t_next = tw
    if t_next is None:
        return False, "TIME_WAIT outlived your program: its last timer reading cannot be timed"
    # the timer was last read at some t <= t_next, so t_next + what was left is never early:
    # it reaches t_fin + 60 only if the timer restarted at your FIN (or the sampler stalled for
    # longer than you waited before the FIN)
    deadline = t_next + sample.expires_ms / 1000
    late = deadline - (t_tw + TIMEWAIT_S)
    return (
        deadline > t_fin + TIMEWAIT_S - SLACK_S,
        f"TIME_WAIT ends {late:.2f} s later than 60 s after it began; your FIN came "
        f"{t_fin - t_tw:.2f} s after it began",
    )


@checks.add(
    "an old SYN (seq not above rcv_nxt) gets the TIME_WAIT ACK",
    2,
    hint="in TIME_WAIT send a SYN whose seq is not above the old connection's (your old ISN, "
    "say): the kernel answers with its ACK (seq 2, ack 2), not a SYN+ACK",
    why="a SYN below rcv_nxt may be an old duplicate: TIME_WAIT answers with an ACK and keeps "
    "it from opening a new incarnation (the second reason TIME_WAIT exists)",
)
def old_syn(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    entry = _tw_entry(conn) if conn else None
    if entry is None:
        return False, "the kernel never reached TIME_WAIT"
    detail = "no old SYN from you in TIME_WAIT"
    for i, s in enumerate(conn.segments[entry + 1 :], start=entry + 1):
        seg = s.segment
        if s.from_kernel or seg.flags != Flags.SYN or _tw_ended(conn, i):
            continue
        rec = conn.predicted(s)
        if rec is None or rec.prediction.rule == "time-wait-reopen":
            continue  # not an old SYN: it reopens
        if rec.prediction.rule == "time-wait-ack-rate-limited":
            detail = "your old SYN got no answer (a second one within 500 ms is rate-limited)"
            continue
        ok, said = conn.verdict(s, "time-wait-ack")
        reply = conn.answer(s)
        seq, ack = _rel(conn, reply, True) if reply else (None, None)
        shown = f"answer {reply.flags.letters} seq {seq} ack {ack}" if reply else "no answer"
        if ok:
            return True, shown
        detail = f"{shown}; {said}"
    return False, detail


@checks.add(
    "a SYN above rcv_nxt reopens the connection (new ISN = old snd_nxt + 65537)",
    2,
    hint="in TIME_WAIT send a SYN from the same port with a seq above the old connection's "
    "(your old ISN + 100000, say): TIME_WAIT gives way and the kernel answers SYN+ACK",
    why="Linux lets a new incarnation in when its SYN is above rcv_nxt, and picks an ISN above "
    "everything the old one sent (tcp_timewait_state_process)",
)
def new_syn(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    entry = _tw_entry(conn) if conn else None
    if entry is None:
        return False, "the kernel never reached TIME_WAIT"
    for s in conn.segments[entry + 1 :]:
        rec = conn.predicted(s)
        if s.segment.flags != Flags.SYN or rec is None:
            continue
        if rec.prediction.rule != "time-wait-reopen":
            continue  # an old SYN (not above rcv_nxt): it does not reopen
        ok, said = conn.verdict(s, "time-wait-reopen")
        reply = conn.answer(s)
        if reply is None or reply.flags != Flags.SYN | Flags.ACK:
            got = reply.flags.letters if reply else "no answer"
            return False, f"your SYN above rcv_nxt got {got}; {said}"
        isn = conn.rel_seq(reply, True)
        return ok, f"new ISN = the old ISN + {isn} ({said})"
    return False, "no SYN above rcv_nxt from you in TIME_WAIT"


@checks.add(
    "you complete the new handshake: ESTABLISHED again",
    1,
    hint="answer the new SYN+ACK with ACK: seq = your new ISN + 1, ack = its seq + 1",
    why="the reopened connection is a new incarnation with its own ISNs",
)
def new_handshake(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    entry = _tw_entry(conn) if conn else None
    if entry is None:
        return False, "the kernel never reached TIME_WAIT"
    later = conn.segments[entry + 1 :]
    synack = next(
        (s.segment for s in later if s.from_kernel and s.segment.flags == Flags.SYN | Flags.ACK),
        None,
    )
    if synack is None:
        return False, "the connection was not reopened"
    acks = [s.segment for s in later if not s.from_kernel and s.segment.flags == Flags.ACK]
    good = any(a.ack == (synack.seq + 1) % 2**32 and a.seq == synack.ack for a in acks)
    seen = conn.states()
    again = State.ESTABLISHED in seen[seen.index(State.TIME_WAIT) :]
    return good and again, " -> ".join(seen)
