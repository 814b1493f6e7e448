"""Checks for lab 7 (the SYN backlog), on what the kernel host saw.

A connection the kernel queued shows a request sock (SYN_RECEIVED) in its socket table for seconds; a
connection answered with a SYN cookie never has one, which is how the checks tell them apart. When the
queue is full, and when a SYN+ACK is sent again, is tcplab's model's to say (the rule it applies to
each SYN, the timer that explains each retransmission), with the kernel agreeing.
"""

from tcplab.exercise.kit import Checklist, Observation, ObservedConn
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()


def _signed(n: int | None) -> int | None:
    """A relative sequence number as a small signed offset (ISN - 1, not ISN + 4294967295)."""
    return None if n is None else n - 2**32 if n >= 2**31 else n


PORT = 8080  # the listener with backlog 1 (lab.toml)
WATCHED = 1.5  # a cookie's SYN+ACK must be watched this long to show it is never sent again


def _syns(obs: Observation) -> list[ObservedConn]:
    return [c for c in obs.conns if c.kport == PORT and c.crafted(Flags.SYN)]


def _queued(obs: Observation) -> list[ObservedConn]:
    """Connections that had a request sock in the SYN queue (seen as SYN_RECEIVED)."""
    return [c for c in _syns(obs) if State.SYN_RECEIVED in c.states()]


def _time(conn: ObservedConn, from_kernel: bool, flags: Flags) -> float | None:
    return next(
        (
            s.time
            for s in conn.segments
            if s.from_kernel == from_kernel and s.segment.flags == flags
        ),
        None,
    )


def _cookies(obs: Observation) -> list[ObservedConn]:
    """Connections never queued whose SYN tcplab's model answers with a cookie (the SYN queue
    was full), and the kernel did send that SYN+ACK."""
    queued = _queued(obs)
    out = []
    for c in _syns(obs):
        if c in queued:
            continue
        rec = c.predicted(c.crafted(Flags.SYN)[0])
        if rec is not None and rec.prediction.rule == "listen-syn-cookie" and rec.agrees:
            out.append(c)
    return out


def _synack_times(conn: ObservedConn) -> list[float]:
    return [
        s.time for s in conn.segments if s.from_kernel and s.segment.flags == Flags.SYN | Flags.ACK
    ]


def _timed(conn: ObservedConn) -> int:
    """The kernel's SYN+ACKs sent again when tcplab's model said its retransmission timer
    would send them (the model's schedule: tcp_synack_retries, 1 s doubling)."""
    return sum(
        1
        for s in conn.segments
        if s.from_kernel
        and s.segment.flags == Flags.SYN | Flags.ACK
        and (rec := conn.explanation(s)) is not None
        and rec.cause.startswith("timer")
        and rec.agrees
    )


@checks.add(
    "you send SYNs to the listener from three ports or more",
    1,
    hint="one SYN from each of several ports: lab.sport, then lab.new_port() for each more "
    "(a SYN again from the same port is a retransmission, not a new connection)",
    why="each half-open connection is one 4-tuple; a SYN flood uses many",
)
def many_syns(obs: Observation) -> tuple[bool, str]:
    n = len(_syns(obs))
    return n >= 3, f"SYNs from {n} port(s)"


@checks.add(
    "two of your connections wait half-open in the SYN queue (SYN_RECEIVED)",
    2,
    hint="send the SYNs one after another and leave the first two unanswered: listen(1) holds two "
    "half-open connections (pause with time.sleep(0.05) after each SYN)",
    why="each SYN that fits in the queue gets a request sock, SYN-RECV in ss, until the handshake "
    "completes or the kernel gives up",
)
def two_queued(obs: Observation) -> tuple[bool, str]:
    n = len(_queued(obs))
    return n == 2, f"{n} half-open connection(s) seen"


@checks.add(
    "a SYN beyond the full queue gets a SYN cookie: a SYN+ACK with no socket behind it",
    2,
    hint="send a third SYN (from another port) while the first two are still half-open: with "
    "tcp_syncookies = 1 the kernel answers it with a cookie",
    why="with syncookies on, a SYN that finds the SYN queue full is answered with a SYN+ACK whose ISN "
    "encodes the connection; nothing is stored (RFC 4987 §3.6)",
)
def cookie_sent(obs: Observation) -> tuple[bool, str]:
    n = len(_cookies(obs))
    return n >= 1, f"{n} cookie SYN+ACK(s)"


@checks.add(
    "you watch long enough to see each queued SYN+ACK again after about 1 s and 3 s",
    2,
    hint="leave the two queued connections half-open and keep your script running about 3.5 s "
    "after the SYNs (a loop of lab.expect, or time.sleep): the SYN+ACK is retransmitted 1 s, then "
    "2 s more, after the first",
    why="a request sock retransmits its SYN+ACK with an initial timeout of 1 s, doubling, "
    "tcp_synack_retries times (2 in this lab), then is dropped without a RST",
)
def retransmissions(obs: Observation) -> tuple[bool, str]:
    queued = _queued(obs)
    if len(queued) < 2:
        return False, f"{len(queued)} half-open connection(s) seen"
    details, ok = [], True
    for c in queued:
        t = _synack_times(c)
        gaps = [round(x - t[0], 2) for x in t[1:]]
        timed = _timed(c)
        details.append(f"port {c.sport}: +{gaps} s ({timed} when tcplab's model said)")
        ok = ok and len(gaps) >= 2 and timed >= 2
    return ok, "; ".join(details)


def _watched(obs: Observation, conn: ObservedConn) -> float:
    """How long the cookie's SYN+ACK was watched before you answered it (or the run ended)."""
    sent = _time(conn, True, Flags.SYN | Flags.ACK)
    answers = [s.time for s in conn.segments if not s.from_kernel and s.time > sent]
    end = min(answers) if answers else max(s.time for s in obs.segments)
    return end - sent


@checks.add(
    "the cookie's SYN+ACK is never retransmitted, though you waited",
    2,
    hint="wait (about 3.5 s, as for the retransmissions) before you complete the cookie connection: "
    "only then does it show that the kernel does not send its SYN+ACK again",
    why="a cookie leaves no request sock, so there is no timer to retransmit it: if the SYN+ACK is "
    "lost, the client's SYN retransmission starts over",
)
def cookie_not_retransmitted(obs: Observation) -> tuple[bool, str]:
    cookies = _cookies(obs)
    if not cookies:
        return False, "no cookie SYN+ACK"
    watched = [(len(c.kernel(Flags.SYN | Flags.ACK)), _watched(obs, c)) for c in cookies]
    ok = any(n == 1 and w >= WATCHED for n, w in watched)
    return ok, "; ".join(f"{n} SYN+ACK(s) in {w:.1f} s" for n, w in watched)


def _cookie_acks(obs: Observation) -> list[tuple[ObservedConn, int | None, int | None]]:
    return [
        (c, _signed(c.rel_seq(a, False)), _signed(c.rel_ack(a, False)))
        for c in _cookies(obs)
        for a in c.crafted(Flags.ACK)
    ]


@checks.add(
    "your ACK returns the cookie: seq = your ISN + 1, ack = the cookie + 1",
    2,
    hint="on a port whose SYN+ACK never came again, send flags 'A' with seq = that port's ISN + 1 and "
    "ack = the SYN+ACK's seq + 1: the kernel decodes the cookie from ack - 1 and seq - 1",
    why="the cookie is the SYN+ACK's ISN, so it comes back as ack - 1; it was computed from the "
    "4-tuple and your ISN, which comes back as seq - 1 (Linux tolerates some errors here: the "
    "handout says which; this check does not)",
)
def cookie_ack(obs: Observation) -> tuple[bool, str]:
    acks = _cookie_acks(obs)
    if not acks:
        return False, "no ACK on a cookie connection"
    ok = any(seq == 1 and ack == 1 for _, seq, ack in acks)
    return ok, "; ".join(f"seq ISN + {seq}, ack cookie + {ack}" for _, seq, ack in acks)


@checks.add(
    "the kernel rebuilds the cookie connection: ESTABLISHED, never half-open before",
    3,
    hint="answer a cookie SYN+ACK (one never retransmitted) with flags 'A', ack = its seq + 1 and "
    "seq = your ISN + 1 (ack = the cookie itself does not decode: RST); an ACK to a queued "
    "connection is an ordinary handshake, not a cookie",
    why="from the ACK alone the kernel checks the cookie and creates the full socket, straight in "
    "ESTABLISHED (it waits in the accept queue)",
)
def cookie_established(obs: Observation) -> tuple[bool, str]:
    done = [c for c in _cookies(obs) if State.ESTABLISHED in c.states()]
    return bool(done), (f"port {done[0].sport}: " + " -> ".join(done[0].states())) if done else ""


@checks.add(
    "you never reset a connection",
    1,
    hint="do not send R: the kernel forgets half-open connections by itself",
    why="filling the queue needs only SYNs, completing a cookie only an ACK",
)
def no_reset(obs: Observation) -> bool:
    return bool(obs.conns) and not any(Flags.RST in s.flags for s in obs.crafted())
