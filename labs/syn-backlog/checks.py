"""Checks for lab 7 (the SYN backlog), on what the kernel host saw.

The task spans several connections to the listener, so the checks look at all of them, found by
what the kernel did with each (never by order): a connection is queued when the kernel kept a
request sock for it (SYN_RECEIVED, by tcplab's model or the socket table), a cookie when the model
answers its SYN with a cookie (the SYN queue was full) and the kernel did. Which SYN+ACKs are
retransmissions is the model's to say (its timer explains them). What you watched counts only
while your program ran (the observation's `ended`): tcplab keeps capturing a little after it.
"""

from tcplab.exercise.kit import (
    Checklist,
    Fail,
    NotReached,
    Observation,
    ObservedConn,
    Pass,
    Seen,
)
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()

SYN_ACK = Flags.SYN | Flags.ACK
WATCHED = 2.5  # a cookie's SYN+ACK must be watched this long to show it is never sent again
Verdict = Pass | Fail | NotReached

MANY = "you send SYNs to the listener from three ports or more"
QUEUED = "two connections wait half-open in the SYN queue"
COOKIE = "a SYN beyond the full queue gets a SYN cookie"
COOKIE_ACK = "your ACK returns the cookie"
REBUILT = "the kernel rebuilds the cookie connection"


# -- the connections, by what the kernel did with them ---------------------------------------------
def _syns(obs: Observation) -> list[ObservedConn]:
    return [c for c in obs.attempts() if c.crafted(Flags.SYN)]


def _is_cookie(conn: ObservedConn) -> bool:
    """tcplab's model answers a SYN of yours here with a cookie, and the kernel did."""
    for s in conn.segments:
        rec = None if s.from_kernel else conn.predicted(s)
        if rec is not None and rec.prediction.rule == "listen-syn-cookie" and rec.agrees:
            return True
    return False


def _queued(obs: Observation) -> list[ObservedConn]:
    """Connections that had a request sock in the SYN queue (SYN_RECEIVED)."""
    return [c for c in _syns(obs) if not _is_cookie(c) and c.reached(State.SYN_RECEIVED)]


def _cookies(obs: Observation) -> list[ObservedConn]:
    return [c for c in _syns(obs) if _is_cookie(c)]


EXIT = 0.5  # seconds: obs.ended also counts the interpreter's exit (scapy's: 0.5 to 1.7 s measured)


def _end(obs: Observation) -> float:
    """Until when your program watched. When its last segment answers something (the cookie's
    ACK, the lab's last step), until then: what came later, you did not wait for. When it ended on
    a SYN or sent nothing after its SYNs, until it ended, less the interpreter's exit (a SYN+ACK
    that came while Python was exiting was seen by no one)."""
    crafted = [s for s in obs.segments if not s.from_kernel]
    if obs.ended is None:
        return max(s.time for s in obs.segments)
    last = crafted[-1] if crafted else None
    if last is not None and last.segment.flags != Flags.SYN:
        return last.time
    return max(last.time if last else 0.0, obs.ended - EXIT)


def _retransmitted(conn: ObservedConn) -> list[Seen]:
    """The kernel's SYN+ACKs here that its retransmission timer sent (the model's explanation)."""
    return [
        s
        for s in conn.segments
        if s.from_kernel
        and s.segment.flags == SYN_ACK
        and (rec := conn.explanation(s)) is not None
        and rec.cause.startswith("timer")
        and rec.agrees
    ]


# -- the checks ----------------------------------------------------------------------------------
@checks.add(
    MANY,
    1,
    hints=(
        "count your connections: how many half-open ones does listen(1) hold, and one more?",
        "each half-open connection is one 4-tuple: a SYN again from the same port is a "
        "retransmission, not a new connection",
        "one SYN from lab.sport and one from each lab.new_port(): four ports",
    ),
    why="each half-open connection is one 4-tuple; a SYN flood uses many",
)
def many_syns(obs: Observation) -> Verdict:
    ports = [c.sport for c in _syns(obs)]
    if len(ports) >= 3:
        return Pass(f"SYNs from {len(ports)} ports")
    again = [c.sport for c in _syns(obs) if len(c.crafted(Flags.SYN)) > 1]
    more = f"; port {again[0]} sent its SYN again (one connection)" if again else ""
    return Fail(f"your SYNs came from {len(ports)} port(s){more}", cause="few-syns")


@checks.add(
    QUEUED,
    2,
    hints=(
        "look at the kernel's socket table after each SYN: 'tcplab sockets' shows SYN-RECV",
        "a SYN that fits in the queue gets a request sock until the handshake completes or the "
        "kernel gives up; do not answer those SYN+ACKs",
        "send the SYNs one after another, pause (time.sleep(0.05)) after each, answer none",
    ),
    why="each SYN that fits in the queue gets a request sock, SYN-RECV in ss, until the handshake "
    "completes or the kernel gives up",
)
def two_queued(obs: Observation) -> Verdict:
    queued = _queued(obs)
    if len(queued) >= 2:
        return Pass(f"ports {', '.join(str(c.sport) for c in queued)} waited in SYN_RECEIVED")
    if not _syns(obs):
        return NotReached(f"you sent no SYN to the listener's port {_port(obs)}")
    return Fail(f"{len(queued)} of your connections waited half-open", cause="queue")


def _port(obs: Observation) -> str:
    return ", ".join(map(str, sorted(obs.ports)))


@checks.add(
    COOKIE,
    2,
    hints=(
        "what does the kernel answer to a SYN that finds the SYN queue full?",
        "with tcp_syncookies = 1 the kernel answers a SYN beyond the full queue with a "
        "SYN+ACK whose ISN encodes the connection, and keeps nothing",
        "send one more SYN, from another port, while the first two are still half-open",
    ),
    why="with syncookies on, a SYN that finds the SYN queue full is answered with a SYN+ACK whose "
    "ISN encodes the connection; nothing is stored (RFC 4987 §3.6)",
    needs=(MANY, QUEUED),
)
def cookie_sent(obs: Observation) -> Verdict:
    cookies = _cookies(obs)
    if cookies:
        return Pass(f"port {cookies[0].sport} got a cookie SYN+ACK")
    return NotReached("no SYN of yours found the SYN queue full")


@checks.add(
    "you watch each queued SYN+ACK come again, twice",
    2,
    hints=(
        "how long did your program run after its SYNs? Print the time of each SYN+ACK",
        "a request sock retransmits its SYN+ACK with an initial timeout of 1 s, doubling, "
        "tcp_synack_retries times (2 here)",
        "keep running about 3.5 s after the SYNs (a loop of lab.expect, or time.sleep)",
    ),
    why="a request sock retransmits its SYN+ACK with an initial timeout of 1 s, doubling, "
    "tcp_synack_retries times (2 in this lab), then is dropped without a RST",
    needs=(QUEUED,),
)
def retransmissions(obs: Observation) -> Verdict:
    queued = _queued(obs)
    if len(queued) < 2:
        return NotReached(f"{len(queued)} half-open connection(s)")
    end = _end(obs)
    details, ok, late = [], True, 0
    for c in queued[:2]:
        first = next(s.time for s in c.segments if s.from_kernel and s.segment.flags == SYN_ACK)
        seen = [s.time - first for s in _retransmitted(c) if s.time <= end]
        late += sum(1 for s in _retransmitted(c) if s.time > end)
        details.append(f"port {c.sport}: again at {_times(seen)}")
        ok = ok and len(seen) >= 2
    text = "; ".join(details)
    if ok:
        return Pass(text)
    start = min(s.time for s in obs.segments if not s.from_kernel)
    ran = f"your program watched {end - start:.1f} s after its first segment"
    after = f"; {late} more came after it had stopped (they do not count)" if late else ""
    return Fail(f"{ran}: {text}{after}", cause="watch")


def _times(times: list[float]) -> str:
    return ", ".join(f"+{t:.1f} s" for t in times) if times else "never while you watched"


def _watched(obs: Observation, conn: ObservedConn) -> tuple[int, float]:
    """(SYN+ACKs seen, seconds) from the cookie's SYN+ACK to your answer or your program's end."""
    synack = conn.first_kernel(flags=SYN_ACK)
    assert synack is not None
    answer = conn.first_crafted(after=synack)
    end = min(_end(obs), answer.time) if answer is not None else _end(obs)
    n = sum(
        1 for s in conn.segments if s.from_kernel and s.segment.flags == SYN_ACK and s.time <= end
    )
    return n, end - synack.time


@checks.add(
    "the cookie's SYN+ACK never comes again, though you wait",
    2,
    hints=(
        "how long after the cookie's SYN+ACK did you answer it, or stop?",
        "a cookie leaves no request sock, so no timer could send its SYN+ACK again: only "
        "waiting shows it",
        "wait as long as for the retransmissions (about 3.5 s) before you complete the cookie",
    ),
    why="a cookie leaves no request sock, so there is no timer to retransmit it: if the SYN+ACK is "
    "lost, the client's SYN retransmission starts over",
    needs=(COOKIE,),
)
def cookie_not_retransmitted(obs: Observation) -> Verdict:
    cookies = _cookies(obs)
    if not cookies:
        return NotReached("no cookie SYN+ACK")
    watched = [(c, *_watched(obs, c)) for c in cookies]
    best = max(watched, key=lambda w: w[2])
    conn, n, w = best
    if n == 1 and w >= WATCHED:
        return Pass(f"port {conn.sport}: one SYN+ACK in the {w:.1f} s you watched")
    if n > 1:
        return Fail(f"port {conn.sport}: {n} SYN+ACKs in {w:.1f} s", cause="kernel")
    return Fail(f"you watched the cookie's SYN+ACK only {w:.1f} s", cause="watch")


def _cookie_acks(conn: ObservedConn) -> list[Seen]:
    return conn.after_synack(Flags.ACK)


def _seq_wrong(conn: ObservedConn, ack: Seen) -> str | None:
    """The seq diagnosis, against what the kernel expected (for a cookie, the model's number the
    cookie encodes)."""
    return conn.diagnose(ack, "seq")


@checks.add(
    COOKIE_ACK,
    2,
    hints=(
        "look at the cookie's SYN+ACK: which of its numbers comes back in your ACK?",
        "the cookie is the SYN+ACK's ISN; it encodes your ISN too; each SYN occupied one "
        "sequence number",
        "flags 'A', seq = that port's ISN + 1, ack = the cookie SYN+ACK's seq + 1",
    ),
    why="the cookie is the SYN+ACK's ISN, so it comes back as ack - 1; it was computed from the "
    "4-tuple and your ISN, which comes back as seq - 1 (Linux tolerates some errors in the seq: "
    "the handout says which; this check does not)",
    needs=(COOKIE,),
)
def cookie_ack(obs: Observation) -> Verdict:
    cookies = _cookies(obs)
    if not cookies:
        return NotReached("no cookie SYN+ACK")
    tried = [(c, a) for c in cookies for a in _cookie_acks(c)]
    if not tried:
        queued = [c.sport for c in _queued(obs) if c.crafted("A")]
        where = (
            f"; your ACK went to port {queued[0]}, a queued connection (its SYN+ACK came "
            "again): that completes an ordinary handshake"
            if queued
            else ""
        )
        return NotReached(f"you sent no ACK on a cookie connection{where}")
    conn, ack = next(((c, a) for c, a in tried if c.accepted(a)), tried[0])
    wrong = conn.diagnose(ack, "ack")
    if wrong:
        return Fail(f"{wrong}; {conn.reaction(ack)}", cause="cookie-ack")
    wrong = _seq_wrong(conn, ack)
    if wrong:
        took = "the kernel took it anyway" if conn.accepted(ack) else conn.reaction(ack)
        return Fail(f"{wrong}; {took}", cause="cookie-seq")
    return Pass(f"port {conn.sport}: seq {conn.seq_text(ack)}, ack {conn.ack_text(ack)}")


@checks.add(
    REBUILT,
    3,
    hints=(
        "watch the kernel's socket table after your ACK: which state, and was it ever SYN-RECV?",
        "from the ACK alone the kernel checks the cookie and creates the full socket",
        "the ACK of a cookie SYN+ACK builds an ESTABLISHED socket at once",
    ),
    why="from the ACK alone the kernel checks the cookie and creates the full socket, straight in "
    "ESTABLISHED (it waits in the accept queue)",
    needs=(COOKIE_ACK,),
)
def cookie_established(obs: Observation) -> Verdict:
    done = [c for c in _cookies(obs) if c.reached(State.ESTABLISHED)]
    if done:
        shown = " -> ".join(s.value for s in done[0].states()) or "no socket sampled"
        return Pass(f"port {done[0].sport}: {shown}")
    tried = [(c, a) for c in _cookies(obs) for a in _cookie_acks(c)]
    taken = [(c, a) for c, a in tried if c.accepted(a)]
    if not taken:
        return NotReached("the kernel took no ACK of yours on a cookie connection")
    conn, ack = taken[0]
    return Fail(conn.reaction(ack), cause="kernel")


@checks.add(
    "you never reset a connection",
    1,
    hints=(
        "which of your segments carried the R flag?",
        "the kernel forgets half-open connections by itself",
        "send only SYNs and the one ACK: no R",
    ),
    why="filling the queue needs only SYNs, completing a cookie only an ACK",
    needs=(QUEUED,),
)
def no_reset(obs: Observation) -> Verdict:
    resets = [c for c in _syns(obs) for s in c.crafted() if Flags.RST in s.flags]
    if resets:
        return Fail(f"you sent a RST from port {resets[0].sport}", cause="reset")
    if len(_queued(obs)) < 2:
        return NotReached("the SYN queue was never filled")
    return Pass("no RST from you")
