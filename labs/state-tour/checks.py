"""Checks for lab 8 (the state tour), on what the kernel host saw.

The tour spans four connections, so each check looks at all of them and counts a state on whichever
connection reached it: other experiments before, between or after cost nothing. A state counts when
tcplab's sampler saw it in the kernel's socket table, or when the capture proves it through tcplab's
model (the model put the kernel's side there after a segment or a call and the kernel did what the
model predicted: ObservedConn.reached). When a state was not reached, the check names what the
kernel did with your segment and why (conn.reaction, conn.diagnose: numbers against the kernel's TCB
at that moment), and a later step is judged on its own, against what the kernel actually held.
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
from tcplab.model.table import Place

checks = Checklist()


def _both(first: str, then: str) -> str:
    """Two findings of one message: "{first}; {then}"."""
    # TRANSLATORS: two clauses of one message (the second often says what the kernel did)
    return _("{first}; {then}").format(first=first, then=then)


Verdict = Pass | Fail | NotReached

CLOSE_WAIT = N_("CLOSE_WAIT: the kernel ACKs your FIN")
LAST_ACK = N_("LAST_ACK: the application closes after your FIN")
FIN_WAIT_1 = N_("FIN_WAIT_1: the kernel closes first")
SYN_SENT = N_("SYN_SENT: the kernel's application connects to you")


# -- what the kernel reached, and where ------------------------------------------------------------
def _evidence(obs: Observation, state: State) -> Pass | None:
    """Pass when some connection reached `state`: seen in the socket table, else proved by the
    capture through the model."""
    sampled = [c for c in obs.conns if state in c.states()]
    if sampled:
        c = sampled[0]
        return Pass(
            _("seen in the socket table; your port {port}, the kernel's {kport}").format(
                port=c.sport, kport=c.kport
            )
        )
    wired = [c for c in obs.conns if state in c.model_states()]
    if wired:
        return Pass(
            _(
                "proved by the capture only; your port {port}; pause (time.sleep(0.05)) to see "
                "it in the socket table too"
            ).format(port=wired[0].sport)
        )
    return None


def _arrived_in(conn: ObservedConn, place: Place) -> list[Seen]:
    """Your segments that found the kernel's side in `place` (the model's TCB when they came)."""
    out = []
    for s in conn.segments:
        exp = None if s.from_kernel else conn.expected(s)
        if exp is not None and exp.place is place:
            out.append(s)
    return out


def _moved_to(conn: ObservedConn, seg: Seen, state: State) -> bool:
    """The kernel took `seg` and the model put its side in `state` after it."""
    rec = conn.predicted(seg)
    return conn.accepted(seg) and rec is not None and rec.prediction.place.state is state


def _wrong_numbers(conn: ObservedConn, seg: Seen) -> str:
    """Why the kernel did not take `seg`: the number it did not expect, and its reaction."""
    wrong = conn.diagnose(seg, "ack") or conn.diagnose(seg, "seq")
    if wrong:
        return _both(wrong, _reaction(conn, seg))
    return _("your {segment}: {reaction}").format(
        segment=conn.show(seg), reaction=_reaction(conn, seg)
    )


def _reaction(conn: ObservedConn, seg: Seen) -> str:
    """The kernel's reaction; where the model and the kernel differ on what came next (a timer's
    retransmission taken for an answer), only where the kernel's side stayed."""
    rec = conn.predicted(seg)
    exp = conn.expected(seg)
    stayed = exp is not None and rec is not None and rec.prediction.place is exp.place
    if stayed and rec is not None and rec.agrees is False and exp is not None:
        return _("the kernel did not take it: its side stayed in {place}").format(
            place=_(exp.place.value)
        )
    return conn.reaction(seg)


def _kernel_opened(obs: Observation) -> list[ObservedConn]:
    return obs.conns_with(
        lambda c: (
            bool(c.segments)
            and c.segments[0].from_kernel
            and c.segments[0].segment.flags == Flags.SYN
        )
    )


# -- the checks ------------------------------------------------------------------------------------
@checks.add(
    N_("LISTEN, SYN_RECEIVED, ESTABLISHED: your handshakes"),
    1,
    hints=(
        N_("the handshake() helper does it: use it for each connection you go on to close"),
        N_(
            "the listener (LISTEN) answers a SYN with SYN+ACK and keeps a request sock "
            "(SYN_RECEIVED); the ACK of its SYN makes the connection"
        ),
        N_("handshake(port, isn) for each new port, then drive the connection on"),
    ),
    why=N_(
        "listen() puts a socket in LISTEN; each SYN makes a request sock (SYN_RECEIVED), the ACK of "
        "the kernel's SYN an ESTABLISHED connection (RFC 9293 §3.5)"
    ),
)
def handshakes(obs: Observation) -> Verdict:
    if not any(s.state is State.LISTEN for s in obs.listener_samples):
        return Fail(_("no listener in the socket table"), cause="kernel")
    made = [c for c in obs.attempts() if c.reached(State.ESTABLISHED)]
    later = (State.CLOSE_WAIT, State.FIN_WAIT_1, State.CLOSED)
    toured = [c for c in made if any(c.reached(s) for s in later)]
    if toured:
        return Pass(
            _("your connections from ports {ports}").format(
                ports=", ".join(str(c.sport) for c in toured)
            )
        )
    if made:
        return NotReached(_("your connections stopped at ESTABLISHED: none went on to close"))
    for c in obs.attempts():
        synack = c.kernel_synack()
        ack = c.first_crafted(after=synack, flags=Flags.ACK) if synack else None
        if ack is not None:
            return Fail(_wrong_numbers(c, ack), cause="handshake")
    return NotReached(_("you completed no handshake with the application's port"))


@checks.add(
    CLOSE_WAIT,
    1,
    hints=(
        N_("who closes first on connection 1? You do: what do you send?"),
        N_(
            "ESTABLISHED -> CLOSE_WAIT on the peer's FIN; a FIN carries your next seq and "
            "acknowledges what you received"
        ),
        N_(
            "flags 'FA', seq = your next seq, ack = the kernel's next seq (what handshake() returns)"
        ),
    ),
    why=N_(
        "ESTABLISHED -> CLOSE_WAIT on the peer's FIN: the kernel can still send until its "
        "application closes"
    ),
)
def close_wait(obs: Observation) -> Verdict:
    got = _evidence(obs, State.CLOSE_WAIT)
    if got:
        return got
    for c in reversed(obs.attempts()):
        fins = [s for s in _arrived_in(c, Place.ESTABLISHED) if Flags.FIN in s.segment.flags]
        if fins:
            return Fail(_wrong_numbers(c, fins[0]), cause="fin")
    return NotReached(_("you sent no FIN on an established connection before the kernel closed"))


@checks.add(
    LAST_ACK,
    1,
    hints=(
        N_("in CLOSE_WAIT the kernel waits for its application: what does it have to do?"),
        N_("CLOSE_WAIT -> LAST_ACK on close(): the kernel sends its FIN"),
        N_("lab.app_close(port), then wait_for(port, 'FA') and pause()"),
    ),
    why=N_("CLOSE_WAIT -> LAST_ACK on close(): the kernel's FIN waits for its ACK"),
    needs=(CLOSE_WAIT,),
)
def last_ack(obs: Observation) -> Verdict:
    got = _evidence(obs, State.LAST_ACK)
    if got:
        return got
    waiting = [c for c in obs.attempts() if c.reached(State.CLOSE_WAIT)]
    if waiting:
        return NotReached(
            _(
                "your connection from port {port} stayed in CLOSE_WAIT: its application never "
                "closed"
            ).format(port=waiting[-1].sport)
        )
    return NotReached(_("no connection reached CLOSE_WAIT"))


@checks.add(
    N_("CLOSED: your ACK of its FIN ends the connection"),
    1,
    hints=(
        N_("look at the kernel's FIN in LAST_ACK: which of its numbers does your ACK answer?"),
        N_("a FIN occupies one sequence number, like a SYN; a RST would abort, not close"),
        N_("flags 'A', seq = your FIN's seq + 1, ack = the kernel's FIN's seq + 1"),
    ),
    why=N_(
        "LAST_ACK -> CLOSED on the ACK of the FIN: the side that closed second keeps no TIME_WAIT"
    ),
    needs=(LAST_ACK,),
)
def closed(obs: Observation) -> Verdict:
    tried: list[tuple[ObservedConn, Seen]] = []
    for c in obs.attempts():
        for s in _arrived_in(c, Place.LAST_ACK):
            if _moved_to(c, s, State.CLOSED) and Flags.RST not in s.segment.flags:
                return Pass(
                    _("your {segment} closed it; your port {port}").format(
                        segment=c.show(s), port=c.sport
                    )
                )
            tried.append((c, s))
    if not tried:
        return NotReached(_("you sent nothing while the kernel was in LAST_ACK"))
    c, s = tried[-1]
    if Flags.RST in s.segment.flags:
        return Fail(
            _(
                "you reset it: {reaction}; a RST aborts, LAST_ACK waits for the ACK of its FIN"
            ).format(reaction=_reaction(c, s)),
            cause="rst",
        )
    return Fail(_wrong_numbers(c, s), cause="fin-ack")


@checks.add(
    FIN_WAIT_1,
    1,
    hints=(
        N_("who closes first on connection 2? The kernel's application"),
        N_("ESTABLISHED -> FIN_WAIT_1 on close(): the kernel sends its FIN"),
        N_("lab.app_close(port) before any FIN of yours; wait_for(port, 'FA'), pause()"),
    ),
    why=N_("ESTABLISHED -> FIN_WAIT_1 on close(): the kernel's FIN is not yet acknowledged"),
)
def fin_wait_1(obs: Observation) -> Verdict:
    got = _evidence(obs, State.FIN_WAIT_1)
    return got or NotReached(_("the kernel never closed first on an established connection"))


def _answers_to_fin(obs: Observation) -> list[tuple[ObservedConn, Seen]]:
    """Your first segment on each connection after the kernel closed first (in FIN_WAIT_1)."""
    out = []
    for c in obs.attempts():
        got = _arrived_in(c, Place.FIN_WAIT_1)
        if got:
            out.append((c, got[0]))
    return out


@checks.add(
    N_("FIN_WAIT_2: you ACK its FIN, no FIN of yours yet"),
    1,
    hints=(
        N_("look at the kernel's FIN: which of its numbers does your ACK answer?"),
        N_(
            "FIN_WAIT_1 -> FIN_WAIT_2 when its FIN is acknowledged; a FIN occupies one sequence "
            "number; your own FIN must wait"
        ),
        N_("flags 'A', seq = your next seq, ack = the kernel's FIN's seq + 1, then pause()"),
    ),
    why=N_(
        "FIN_WAIT_1 -> FIN_WAIT_2 when its FIN is acknowledged; Linux shows an orphaned "
        "FIN_WAIT_2 with a timewait timer (tcp_fin_timeout, 60 s)"
    ),
    needs=(FIN_WAIT_1,),
)
def fin_wait_2(obs: Observation) -> Verdict:
    got = _evidence(obs, State.FIN_WAIT_2)
    if got:
        return got
    answers = _answers_to_fin(obs)
    plain = [(c, s) for c, s in answers if Flags.FIN not in s.segment.flags]
    if plain:
        c, s = plain[-1]
        return Fail(_wrong_numbers(c, s), cause="fin-ack")
    if answers:
        c, s = answers[-1]
        return Fail(
            _(
                "your first answer to the kernel's FIN was {segment}, a FIN of your own: {reaction}"
            ).format(segment=c.show(s), reaction=_reaction(c, s)),
            cause="own-fin",
        )
    return NotReached(_("you sent nothing after the kernel's FIN"))


@checks.add(
    N_("TIME_WAIT: the side that closed first waits"),
    1,
    hints=(
        N_("after the kernel's FIN and yours, which side acknowledges last?"),
        N_("FIN_WAIT_2 (or CLOSING) -> TIME_WAIT when both FINs are acknowledged"),
        N_("in FIN_WAIT_2 send flags 'FA', ack = the kernel's FIN's seq + 1; wait for its ACK"),
    ),
    why=N_("FIN_WAIT_2 (or CLOSING) -> TIME_WAIT: 60 s on Linux (TCP_TIMEWAIT_LEN), not 2 MSL"),
    needs=(FIN_WAIT_1,),
)
def time_wait(obs: Observation) -> Verdict:
    for c in obs.conns:
        last = c.last(State.TIME_WAIT)
        if last is not None:
            if last.timer == "timewait":
                return Pass(
                    _("seen in the socket table; your port {port}, {left:.1f} s left").format(
                        port=c.sport, left=last.expires_ms / 1000
                    )
                )
            return Pass(_("seen in the socket table; your port {port}").format(port=c.sport))
    got = _evidence(obs, State.TIME_WAIT)
    if got:
        return got
    for c in reversed(obs.attempts()):
        there = _arrived_in(c, Place.FIN_WAIT_2) + _arrived_in(c, Place.ORPHAN_FIN_WAIT_2)
        there += _arrived_in(c, Place.CLOSING)
        if there:
            return Fail(_wrong_numbers(c, there[-1]), cause="fin-ack")
    return NotReached(_("no connection reached FIN_WAIT_2 or CLOSING"))


@checks.add(
    N_("CLOSING: your FIN crosses the kernel's"),
    2,
    hints=(
        N_("on connection 3 both close at once: what has your FIN not seen yet when it leaves?"),
        N_(
            "FIN_WAIT_1 -> CLOSING when the peer's FIN arrives before the ACK of ours: a FIN "
            "that crossed the kernel's cannot acknowledge it"
        ),
        N_("flags 'FA', seq = your next seq, ack = the kernel's FIN's seq (not + 1)"),
    ),
    why=N_(
        "FIN_WAIT_1 -> CLOSING when the peer's FIN arrives before the ACK of our own "
        "(simultaneous close); the ACK of our FIN then gives TIME_WAIT"
    ),
    needs=(FIN_WAIT_1,),
)
def closing(obs: Observation) -> Verdict:
    got = _evidence(obs, State.CLOSING)
    if got:
        return got
    fins = [(c, s) for c, s in _answers_to_fin(obs) if Flags.FIN in s.segment.flags]
    if not fins:
        return NotReached(_("you sent no FIN while the kernel was in FIN_WAIT_1"))
    c, s = fins[-1]
    return Fail(
        _(
            "your {segment} acknowledged the kernel's FIN: {reaction}; the kernel went "
            "FIN_WAIT_1 -> {states}, not CLOSING"
        ).format(
            segment=c.show(s),
            reaction=_reaction(c, s),
            states=" -> ".join(x.value for x in c.model_states()[-1:]),
        ),
        cause="closing",
    )


@checks.add(
    SYN_SENT,
    1,
    hints=(
        N_("which call makes the kernel's application connect to you?"),
        N_("CLOSED -> SYN_SENT on connect(): the kernel sends its SYN and waits"),
        N_("lab.app_connect(port) with port = lab.new_port(); wait_for(port, 'S'); pause()"),
    ),
    why=N_("CLOSED -> SYN_SENT on connect(): the kernel sends its SYN and waits for a SYN+ACK"),
)
def syn_sent(obs: Observation) -> Verdict:
    got = _evidence(obs, State.SYN_SENT)
    return got or NotReached(_("the kernel never connected to you"))


@checks.add(
    N_("SYN_SENT -> CLOSED: your RST+ACK refuses it"),
    1,
    hints=(
        N_("where did the kernel's SYN come from, and what does a closed port answer?"),
        N_("in SYN_SENT a RST counts only when its ACK acknowledges the SYN"),
        N_("flags 'RA', seq 0, ack = the SYN's seq + 1, to the SYN's sport"),
    ),
    why=N_(
        "SYN_SENT -> CLOSED on a RST whose ACK acknowledges the SYN (connect() fails with "
        "ECONNREFUSED)"
    ),
    needs=(SYN_SENT,),
)
def refused(obs: Observation) -> Verdict:
    opened = _kernel_opened(obs)
    tried: list[tuple[ObservedConn, Seen]] = []
    for c in opened:
        for s in _arrived_in(c, Place.SYN_SENT):
            if _moved_to(c, s, State.CLOSED):
                return Pass(
                    _("your {segment} refused it; your port {port}").format(
                        segment=c.show(s), port=c.sport
                    )
                )
            tried.append((c, s))
    if tried:
        c, s = tried[-1]
        return Fail(_wrong_numbers(c, s), cause="refusal")
    for k in opened:
        astray = [
            c
            for c in obs.conns
            if c.sport == k.sport and c is not k and any(Flags.RST in x.flags for x in c.crafted())
        ]
        if astray:
            return Fail(
                _(
                    "your RST went to port {port}, not to the kernel's port {kport} (its SYN's sport)"
                ).format(port=astray[0].kport, kport=k.kport),
                cause="refusal",
            )
    return NotReached(_("you sent nothing on the kernel's connection"))
