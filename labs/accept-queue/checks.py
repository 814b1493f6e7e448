"""Checks for lab 9 (the accept queue), on what the kernel host saw.

The lab's listener (port 8080, backlog 2) never accepts by itself. Which crafted segment met a
full accept queue, which completed a handshake and which SYN+ACK the kernel's timer sent again is
tcplab's model's to say (the rules of tcplab.model.table, with the kernel agreeing), and the
listener's Recv-Q comes from the kernel's socket table: the checks only find the connections that
did what each asks, in any order, among whatever else the student tried.
"""

from __future__ import annotations

from tcplab.exercise.kit import Checklist, Fail, NotReached, Observation, ObservedConn, Pass, Seen
from tcplab.i18n import N_, _
from tcplab.model.flags import Flags

checks = Checklist()  # observation-wide: the lab is about several connections at once


def _both(first: str, then: str) -> str:
    """Two findings of one message: "{first}; {then}"."""
    # TRANSLATORS: two clauses of one message (the second often says what the kernel did)
    return _("{first}; {then}").format(first=first, then=then)


PORT = 8080  # the listener (lab.toml)
BACKLOG = 2
DROPPED = "request-ack-accept-queue-full"  # the ACK that does not fit: dropped, request kept
FULL = (DROPPED, "listen-syn-accept-queue-full", "listen-cookie-ack-accept-queue-full")
COMPLETES = ("request-ack", "request-ack-data", "listen-cookie-ack")
RESENT = "request-synack-retransmit"

FILLS = N_("the accept queue fills: connections complete, none accepted")
OVERFLOW = N_("one more ACK finds the accept queue full")


def _conns(obs: Observation) -> list[ObservedConn]:
    return [part for c in obs.attempts(PORT) for part in c.incarnations()]


def _rule(conn: ObservedConn, seen: Seen) -> str:
    """The model's rule for a crafted segment, when the kernel did as it said ('' otherwise)."""
    rec = conn.predicted(seen)
    return rec.prediction.rule if rec is not None and rec.agrees else ""


def _crafted(conn: ObservedConn, *rules: str) -> list[Seen]:
    return [s for s in conn.segments if not s.from_kernel and _rule(conn, s) in rules]


def _first_with(conns: list[ObservedConn], rule: str) -> tuple[ObservedConn, Seen] | None:
    """The first connection with a crafted segment under `rule`, and that segment."""
    return next(((c, s[0]) for c in conns if (s := _crafted(c, rule))), None)


def _resent(conn: ObservedConn) -> list[Seen]:
    """The kernel's SYN+ACKs that its retransmission timer sent (the model's cause, agreed)."""
    out = []
    for s in conn.segments:
        rec = conn.explanation(s) if s.from_kernel else None
        if rec is not None and rec.agrees and rec.prediction.rule == RESENT:
            out.append(s)
    return out


def _numbers(conn: ObservedConn, seen: Seen) -> str | None:
    """None when the segment's seq and ack are what the kernel expected; else what is wrong."""
    return conn.diagnose(seen, "ack") or conn.diagnose(seen, "seq")


def _refused(conn: ObservedConn, seen: Seen) -> str:
    """'port 40001: <what is wrong with its numbers>; <what the kernel did and why>'."""
    wrong = _numbers(conn, seen)
    if wrong:
        return _("port {port}: {wrong}; {reaction}").format(
            port=conn.sport, wrong=wrong, reaction=conn.reaction(seen)
        )
    return _("port {port}: {reaction}").format(port=conn.sport, reaction=conn.reaction(seen))


def _answers(seen: Seen) -> bool:
    """A crafted segment that could complete the handshake: ACK, neither SYN nor RST."""
    flags = seen.segment.flags
    return Flags.ACK in flags and not flags & (Flags.SYN | Flags.RST)


def _stopped(conn: ObservedConn) -> str:
    return _("port {port}: you sent nothing more on this connection after the dropped ACK").format(
        port=conn.sport
    )


def _most_queued(obs: Observation) -> int:
    return max((x.rqueue for x in obs.listener_samples), default=0)


def _full_at(obs: Observation) -> float | None:
    """When the accept queue was first seen full: a segment the model dropped for it, or the
    listener's Recv-Q above the backlog in the kernel's socket table."""
    times = [s.time for c in _conns(obs) for s in _crafted(c, *FULL)]
    times += [x.time for x in obs.listener_samples if x.rqueue > BACKLOG]
    return min(times, default=None)


@checks.add(
    FILLS,
    2,
    hints=(
        N_(
            "count the handshakes that completed before one did not: did the kernel ever refuse one?"
        ),
        N_(
            "a completed connection waits in the accept queue until the application accepts it; "
            "Linux counts the queue full only when its length exceeds the backlog"
        ),
        N_(
            "complete backlog + 1 = 3 handshakes, each from its own port (lab.new_port()), and "
            "call no lab.app_accept() before the overflow"
        ),
    ),
    why=N_(
        "the kernel completes the handshake alone; what accept() has not taken waits in the "
        "listener's accept queue (ss -lnt: Recv-Q), bounded by the backlog (Send-Q)"
    ),
)
def fills(obs: Observation) -> Pass | Fail | NotReached:
    conns = _conns(obs)
    full = _full_at(obs)
    done = [s for c in conns for s in _crafted(c, *COMPLETES) if full is None or s.time <= full]
    most = _most_queued(obs)
    queue = _("the listener's Recv-Q reached {most} (backlog {backlog})").format(
        most=most, backlog=BACKLOG
    )
    if full is not None:
        waited = _("{n} connection(s) completed and waited").format(n=len(done))
        return Pass(_both(waited, queue) if most else waited)
    if done:
        if most:
            return Fail(
                _("{n} connection(s) completed; {queue}: the queue never filled").format(
                    n=len(done), queue=queue
                )
            )
        return Fail(_("{n} connection(s) completed: the queue never filled").format(n=len(done)))
    refused = [
        (c, s)
        for c in conns
        for s in c.segments
        if not s.from_kernel and Flags.ACK in s.segment.flags and not c.accepted(s)
    ]
    if refused:
        return Fail(_refused(*refused[0]), cause="handshake-numbers")
    return NotReached(
        _("no handshake of yours to port {port} completed (SYN, SYN+ACK, ACK)").format(port=PORT)
    )


@checks.add(
    OVERFLOW,
    3,
    hints=(
        N_(
            "look at the extra connection: which of its segments met the full queue, the SYN or "
            "the ACK?"
        ),
        N_(
            "a SYN that finds the accept queue full is dropped too, and one that finds the SYN "
            "queue full gets a cookie: the extra connection must be half-open (a request sock) "
            "before the queue fills"
        ),
        N_(
            "send the extra SYN before you complete the last connection that fits; complete that "
            "one, then send the extra connection's ACK"
        ),
    ),
    why=N_(
        "with tcp_abort_on_overflow = 0 the kernel drops the ACK that does not fit (counted in "
        "TcpExtListenOverflows) and keeps the request, SYN_RECEIVED"
    ),
    needs=(FILLS,),
)
def overflow(obs: Observation) -> Pass | Fail | NotReached:
    conns = _conns(obs)
    found = _first_with(conns, DROPPED)
    if found:
        return Pass(
            _("port {port}: {reaction}").format(
                port=found[0].sport, reaction=found[0].reaction(found[1])
            )
        )
    found = _first_with(conns, "listen-cookie-ack-accept-queue-full")
    if found:
        return Fail(
            _(
                "port {port}: your ACK met the full queue, but the kernel had answered "
                "that connection's SYN with a SYN cookie (the SYN queue was full: too many of your "
                "connections half-open at once), so it kept no request to complete later"
            ).format(port=found[0].sport),
            cause="cookie",
        )
    found = _first_with(conns, "listen-syn-accept-queue-full")
    if found:
        return Fail(
            _(
                "port {port}: your SYN came when the accept queue was already full; the "
                "kernel dropped it, so that connection never got as far as its ACK"
            ).format(port=found[0].sport),
            cause="syn-too-late",
        )
    full = _full_at(obs)
    for c in conns:
        for s in c.segments:
            late = full is not None and s.time > full
            if late and not s.from_kernel and Flags.ACK in s.segment.flags and not c.accepted(s):
                return Fail(_refused(c, s), cause="ack-numbers")
    return NotReached(_("no ACK of yours arrived while the accept queue was full"))


@checks.add(
    N_("you answer the SYN+ACK the kernel sends again"),
    2,
    hints=(
        N_(
            "keep watching the extra connection's port after its ACK was dropped: what does the "
            "kernel send, and when?"
        ),
        N_(
            "the request is still there, so its SYN+ACK timer still runs: about 1 s after the "
            "first SYN+ACK, it comes again"
        ),
        N_(
            "lab.expect(timeout=2.5, flags='SA', port=...), then answer it: flags 'A', "
            "seq = your ISN + 1, ack = the kernel's ISN + 1"
        ),
    ),
    why=N_("the kernel sends the SYN+ACK again to have the ACK again, when there may be room"),
    needs=(OVERFLOW,),
)
def answer_again(obs: Observation) -> Pass | Fail | NotReached:
    waited: list[tuple[ObservedConn, Seen]] = []  # SYN+ACKs sent again after an ACK of yours
    for c in _conns(obs):
        acks = [s.time for s in c.segments if not s.from_kernel and Flags.ACK in s.segment.flags]
        waited += [(c, r) for r in _resent(c) if acks and acks[0] < r.time]
    for c, r in waited:
        right = [s for s in c.crafted_after(r) if _answers(s) and _numbers(c, s) is None]
        if right:
            return Pass(_("port {port}: {segment}").format(port=c.sport, segment=c.show(right[0])))
    for c, r in waited:
        answers = [s for s in c.crafted_after(r) if _answers(s)]
        if answers:
            return Fail(_refused(c, answers[0]), cause="retry-numbers")
    if waited:
        c, r = waited[0]
        first = c.kernel_synack() or r
        again = _("the kernel sent its SYN+ACK again {after:.1f} s after the first").format(
            after=r.time - first.time
        )
        dropped = _crafted(c, DROPPED)
        if dropped and not c.crafted_after(dropped[0]):
            return Fail(_both(_stopped(c), again), cause="no-answer")
        return Fail(
            _("port {port}: {again}; no ACK of yours answered it").format(
                port=c.sport, again=again
            ),
            cause="no-answer",
        )
    for c in _conns(obs):
        dropped = _crafted(c, DROPPED)
        done = [s for s in _crafted(c, *COMPLETES) if dropped and s.time > dropped[0].time]
        if done:
            return NotReached(
                _(
                    "port {port}: your connection completed {after:.1f} s after the dropped ACK, "
                    "before the kernel sent its SYN+ACK again"
                ).format(port=c.sport, after=done[0].time - dropped[0].time)
            )
        if dropped and not c.crafted_after(dropped[0]):
            return Fail(_stopped(c), cause="no-answer")
    return NotReached(_("the kernel sent no SYN+ACK again after an ACK of yours"))


@checks.add(
    N_("after accept(), your ACK completes a handshake again"),
    3,
    hints=(
        N_("when your ACK came again, was there room in the accept queue?"),
        N_(
            "only accept() takes a connection off the queue; until then each ACK that does not "
            "fit is dropped"
        ),
        N_("call lab.app_accept(), then send the ACK once more"),
    ),
    why=N_(
        "once the application accepts one connection there is room, and the same ACK "
        "completes the handshake"
    ),
    needs=(FILLS, OVERFLOW),
)
def completes(obs: Observation) -> Pass | Fail | NotReached:
    full = _full_at(obs)
    if full is None:
        return NotReached(_("the accept queue was never full"))
    conns = _conns(obs)
    for c in conns:
        for s in _crafted(c, *COMPLETES):
            if s.time > full:
                return Pass(
                    _("port {port}: your ACK completed the handshake (ESTABLISHED)").format(
                        port=c.sport
                    )
                )
    for c in conns:
        dropped = _crafted(c, DROPPED)
        if len(dropped) > 1:
            return Fail(
                _(
                    "port {port}: your ACK came again {after:.1f} s later and the kernel dropped "
                    "it again: the accept queue was still full"
                ).format(port=c.sport, after=dropped[-1].time - dropped[0].time),
                cause="no-accept",
            )
        if dropped and not c.crafted_after(dropped[0]):
            return Fail(_stopped(c), cause="no-answer")
    return NotReached(_("no ACK of yours completed a handshake after the queue was full"))
