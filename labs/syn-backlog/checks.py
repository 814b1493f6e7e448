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
from tcplab.i18n import N_, _
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()


def _both(first: str, then: str) -> str:
    """Two findings of one message: "{first}; {then}"."""
    # TRANSLATORS: two clauses of one message (the second often says what the kernel did)
    return _("{first}; {then}").format(first=first, then=then)


SYN_ACK = Flags.SYN | Flags.ACK
WATCHED = 2.5  # a cookie's SYN+ACK must be watched this long to show it is never sent again
Verdict = Pass | Fail | NotReached

MANY = N_("you send SYNs to the listener from three ports or more")
QUEUED = N_("two connections wait half-open in the SYN queue")
COOKIE = N_("a SYN beyond the full queue gets a SYN cookie")
COOKIE_ACK = N_("your ACK returns the cookie")
REBUILT = N_("the kernel rebuilds the cookie connection")


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
        N_("count your connections: how many half-open ones does listen(1) hold, and one more?"),
        N_(
            "each half-open connection is one 4-tuple: a SYN again from the same port is a "
            "retransmission, not a new connection"
        ),
        N_("one SYN from lab.sport and one from each lab.new_port(): four ports"),
    ),
    why=N_("each half-open connection is one 4-tuple; a SYN flood uses many"),
)
def many_syns(obs: Observation) -> Verdict:
    ports = [c.sport for c in _syns(obs)]
    if len(ports) >= 3:
        return Pass(_("SYNs from {n} ports").format(n=len(ports)))
    again = [c.sport for c in _syns(obs) if len(c.crafted(Flags.SYN)) > 1]
    if again:
        return Fail(
            _(
                "your SYNs came from {n} port(s); port {port} sent its SYN again (one connection)"
            ).format(n=len(ports), port=again[0]),
            cause="few-syns",
        )
    return Fail(_("your SYNs came from {n} port(s)").format(n=len(ports)), cause="few-syns")


@checks.add(
    QUEUED,
    2,
    hints=(
        N_("look at the kernel's socket table after each SYN: 'tcplab sockets' shows SYN-RECV"),
        N_(
            "a SYN that fits in the queue gets a request sock until the handshake completes or the "
            "kernel gives up; do not answer those SYN+ACKs"
        ),
        N_("send the SYNs one after another, pause (time.sleep(0.05)) after each, answer none"),
    ),
    why=N_(
        "each SYN that fits in the queue gets a request sock, SYN-RECV in ss, until the handshake "
        "completes or the kernel gives up"
    ),
)
def two_queued(obs: Observation) -> Verdict:
    queued = _queued(obs)
    if len(queued) >= 2:
        return Pass(
            _("ports {ports} waited in SYN_RECEIVED").format(
                ports=", ".join(str(c.sport) for c in queued)
            )
        )
    if not _syns(obs):
        return NotReached(
            _("you sent no SYN to the listener's port {port}").format(port=_port(obs))
        )
    return Fail(_("{n} of your connections waited half-open").format(n=len(queued)), cause="queue")


def _port(obs: Observation) -> str:
    return ", ".join(map(str, sorted(obs.ports)))


@checks.add(
    COOKIE,
    2,
    hints=(
        N_("what does the kernel answer to a SYN that finds the SYN queue full?"),
        N_(
            "with tcp_syncookies = 1 the kernel answers a SYN beyond the full queue with a "
            "SYN+ACK whose ISN encodes the connection, and keeps nothing"
        ),
        N_("send one more SYN, from another port, while the first two are still half-open"),
    ),
    why=N_(
        "with syncookies on, a SYN that finds the SYN queue full is answered with a SYN+ACK whose "
        "ISN encodes the connection; nothing is stored (RFC 4987 §3.6)"
    ),
    needs=(MANY, QUEUED),
)
def cookie_sent(obs: Observation) -> Verdict:
    cookies = _cookies(obs)
    if cookies:
        return Pass(_("port {port} got a cookie SYN+ACK").format(port=cookies[0].sport))
    return NotReached(_("no SYN of yours found the SYN queue full"))


@checks.add(
    N_("you watch each queued SYN+ACK come again, twice"),
    2,
    hints=(
        N_("how long did your program run after its SYNs? Print the time of each SYN+ACK"),
        N_(
            "a request sock retransmits its SYN+ACK with an initial timeout of 1 s, doubling, "
            "tcp_synack_retries times (2 here)"
        ),
        N_("keep running about 3.5 s after the SYNs (a loop of lab.expect, or time.sleep)"),
    ),
    why=N_(
        "a request sock retransmits its SYN+ACK with an initial timeout of 1 s, doubling, "
        "tcp_synack_retries times (2 in this lab), then is dropped without a RST"
    ),
    needs=(QUEUED,),
)
def retransmissions(obs: Observation) -> Verdict:
    queued = _queued(obs)
    if len(queued) < 2:
        return NotReached(_("{n} half-open connection(s)").format(n=len(queued)))
    end = _end(obs)
    details, ok, late = [], True, 0
    for c in queued[:2]:
        first = next(s.time for s in c.segments if s.from_kernel and s.segment.flags == SYN_ACK)
        seen = [s.time - first for s in _retransmitted(c) if s.time <= end]
        late += sum(1 for s in _retransmitted(c) if s.time > end)
        details.append(_("port {port}: again at {times}").format(port=c.sport, times=_times(seen)))
        ok = ok and len(seen) >= 2
    text = "; ".join(details)
    if ok:
        return Pass(text)
    start = min(s.time for s in obs.segments if not s.from_kernel)
    ran = _("your program watched {ran:.1f} s after its first segment: {details}").format(
        ran=end - start, details=text
    )
    if late:
        after = _("{n} more came after it had stopped (they do not count)").format(n=late)
        return Fail(_both(ran, after), cause="watch")
    return Fail(ran, cause="watch")


def _times(times: list[float]) -> str:
    if not times:
        return _("never while you watched")
    return ", ".join(_("+{t:.1f} s").format(t=t) for t in times)


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
    N_("the cookie's SYN+ACK never comes again, though you wait"),
    2,
    hints=(
        N_("how long after the cookie's SYN+ACK did you answer it, or stop?"),
        N_(
            "a cookie leaves no request sock, so no timer could send its SYN+ACK again: only "
            "waiting shows it"
        ),
        N_("wait as long as for the retransmissions (about 3.5 s) before you complete the cookie"),
    ),
    why=N_(
        "a cookie leaves no request sock, so there is no timer to retransmit it: if the SYN+ACK is "
        "lost, the client's SYN retransmission starts over"
    ),
    needs=(COOKIE,),
)
def cookie_not_retransmitted(obs: Observation) -> Verdict:
    cookies = _cookies(obs)
    if not cookies:
        return NotReached(_("no cookie SYN+ACK"))
    watched = [(c, *_watched(obs, c)) for c in cookies]
    best = max(watched, key=lambda w: w[2])
    conn, n, w = best
    if n == 1 and w >= WATCHED:
        return Pass(
            _("port {port}: one SYN+ACK in the {w:.1f} s you watched").format(port=conn.sport, w=w)
        )
    if n > 1:
        return Fail(
            _("port {port}: {n} SYN+ACKs in {w:.1f} s").format(port=conn.sport, n=n, w=w),
            cause="kernel",
        )
    return Fail(_("you watched the cookie's SYN+ACK only {w:.1f} s").format(w=w), cause="watch")


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
        N_("look at the cookie's SYN+ACK: which of its numbers comes back in your ACK?"),
        N_(
            "the cookie is the SYN+ACK's ISN; it encodes your ISN too; each SYN occupied one "
            "sequence number"
        ),
        N_("flags 'A', seq = that port's ISN + 1, ack = the cookie SYN+ACK's seq + 1"),
    ),
    why=N_(
        "the cookie is the SYN+ACK's ISN, so it comes back as ack - 1; it was computed from the "
        "4-tuple and your ISN, which comes back as seq - 1 (Linux tolerates some errors in the seq: "
        "the handout says which; this check does not)"
    ),
    needs=(COOKIE,),
)
def cookie_ack(obs: Observation) -> Verdict:
    cookies = _cookies(obs)
    if not cookies:
        return NotReached(_("no cookie SYN+ACK"))
    tried = [(c, a) for c in cookies for a in _cookie_acks(c)]
    if not tried:
        queued = [c.sport for c in _queued(obs) if c.crafted("A")]
        if queued:
            return NotReached(
                _(
                    "you sent no ACK on a cookie connection; your ACK went to port {port}, a "
                    "queued connection (its SYN+ACK came again): that completes an ordinary "
                    "handshake"
                ).format(port=queued[0])
            )
        return NotReached(_("you sent no ACK on a cookie connection"))
    conn, ack = next(((c, a) for c, a in tried if c.accepted(a)), tried[0])
    wrong = conn.diagnose(ack, "ack")
    if wrong:
        return Fail(_both(wrong, conn.reaction(ack)), cause="cookie-ack")
    wrong = _seq_wrong(conn, ack)
    if wrong:
        took = _("the kernel took it anyway") if conn.accepted(ack) else conn.reaction(ack)
        return Fail(_both(wrong, took), cause="cookie-seq")
    return Pass(
        _("port {port}: seq {seq}, ack {ack}").format(
            port=conn.sport, seq=conn.seq_text(ack), ack=conn.ack_text(ack)
        )
    )


@checks.add(
    REBUILT,
    3,
    hints=(
        N_(
            "watch the kernel's socket table after your ACK: which state, and was it ever SYN-RECV?"
        ),
        N_("from the ACK alone the kernel checks the cookie and creates the full socket"),
        N_("the ACK of a cookie SYN+ACK builds an ESTABLISHED socket at once"),
    ),
    why=N_(
        "from the ACK alone the kernel checks the cookie and creates the full socket, straight in "
        "ESTABLISHED (it waits in the accept queue)"
    ),
    needs=(COOKIE_ACK,),
)
def cookie_established(obs: Observation) -> Verdict:
    done = [c for c in _cookies(obs) if c.reached(State.ESTABLISHED)]
    if done:
        shown = " -> ".join(s.value for s in done[0].states()) or _("no socket sampled")
        return Pass(_("port {port}: {states}").format(port=done[0].sport, states=shown))
    tried = [(c, a) for c in _cookies(obs) for a in _cookie_acks(c)]
    taken = [(c, a) for c, a in tried if c.accepted(a)]
    if not taken:
        return NotReached(_("the kernel took no ACK of yours on a cookie connection"))
    conn, ack = taken[0]
    return Fail(conn.reaction(ack), cause="kernel")


@checks.add(
    N_("you never reset a connection"),
    1,
    hints=(
        N_("which of your segments carried the R flag?"),
        N_("the kernel forgets half-open connections by itself"),
        N_("send only SYNs and the one ACK: no R"),
    ),
    why=N_("filling the queue needs only SYNs, completing a cookie only an ACK"),
    needs=(QUEUED,),
)
def no_reset(obs: Observation) -> Verdict:
    resets = [c for c in _syns(obs) for s in c.crafted() if Flags.RST in s.flags]
    if resets:
        return Fail(
            _("you sent a RST from port {port}").format(port=resets[0].sport), cause="reset"
        )
    if len(_queued(obs)) < 2:
        return NotReached(_("the SYN queue was never filled"))
    return Pass(_("no RST from you"))
