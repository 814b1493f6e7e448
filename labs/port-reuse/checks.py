"""Checks for lab 10 (many TIME_WAITs, the 4-tuple, tcp_tw_reuse), on what the kernel host saw.

The kernel's states come from its socket table; whether a connect() could take a 4-tuple back
from TIME_WAIT, and why not, from tcplab's model (the rule it applied to each application call,
refused ones included: `obs.refused`).
"""

from __future__ import annotations

from tcplab.exercise.kit import (
    Checklist,
    Fail,
    NotReached,
    Observation,
    ObservedConn,
    Pass,
    Refused,
    Seen,
)
from tcplab.i18n import N_, _
from tcplab.model.flags import Flags
from tcplab.model.state import State

checks = Checklist()

REUSE = "time-wait-reuse"
NO_TIMESTAMPS = "time-wait-connect-no-timestamps"
OWN_TW = N_("the kernel's own connection ends in TIME_WAIT")
REUSED = N_("after a while, connect() takes the 4-tuple back")


def _tw_spans(conn: ObservedConn) -> list[tuple[float, float]]:
    """When the kernel's socket table showed this 4-tuple in TIME_WAIT: (from, until)."""
    out = []
    for i, s in enumerate(conn.samples):
        if s.state is State.TIME_WAIT:
            end = conn.samples[i + 1].time if i + 1 < len(conn.samples) else float("inf")
            out.append((s.time, end))
    return out


def _outgoing(obs: Observation) -> list[ObservedConn]:
    """The connections the kernel's application opened (its SYN came first)."""
    return [
        c
        for c in obs.conns
        if c.segments and c.segments[0].from_kernel and c.segments[0].segment.flags == Flags.SYN
    ]


def _in_time_wait(obs: Observation) -> list[ObservedConn]:
    return [c for c in _outgoing(obs) if _tw_spans(c)]


def _refusals(obs: Observation) -> list[Refused]:
    """connect() calls that failed on a 4-tuple the kernel held in TIME_WAIT."""
    return [r for r in obs.refused if r.prediction is not None]


def _reuse_syn(conn: ObservedConn) -> Seen | None:
    """The kernel's SYN that took this 4-tuple back from TIME_WAIT, as the model explains it."""
    for seen in conn.segments:
        if seen.from_kernel and seen.segment.flags == Flags.SYN:
            why = conn.explanation(seen)
            if why is not None and why.prediction.rule == REUSE and why.agrees:
                return seen
    return None


@checks.add(
    N_("the kernel holds three TIME_WAITs on port 7788 at once"),
    2,
    hints=(
        N_(
            "look at the kernel's socket table while your three connections are closed: "
            "how many TIME_WAIT lines, and which ports of yours?"
        ),
        N_(
            "a connection is its 4-tuple; a SYN from a port whose 4-tuple is in TIME_WAIT "
            "meets that TIME_WAIT instead of opening a second connection"
        ),
        N_("open each connection from its own port: lab.sport, then lab.new_port()"),
    ),
    why=N_(
        "the side that closes first keeps one TIME_WAIT per 4-tuple: a busy server that "
        "closes first collects them, and still accepts new connections on its port"
    ),
)
def three_time_waits(obs: Observation) -> Pass | Fail | NotReached:
    incoming = [c for c in obs.conns if c.kport in obs.ports and c.crafted()]
    spans = [(a, b, c.sport) for c in incoming for a, b in _tw_spans(c)]
    if not spans:
        return NotReached(_("the kernel held no TIME_WAIT on port 7788"))
    most = max(({p for a, b, p in spans if a <= t < b} for t, *_rest in spans), key=len)
    ports = ", ".join(str(p) for p in sorted(most))
    if len(most) >= 3:
        return Pass(
            _("TIME_WAIT for your ports {ports} at once: one per 4-tuple").format(ports=ports)
        )
    used = sorted({c.sport for c in incoming})
    if len(used) < 3:
        return Fail(
            _(
                "at most {most} at once: your connections came from only "
                "{n} port(s) ({ports}); one port is one 4-tuple "
                "here, so a new connection from it took over its TIME_WAIT"
            ).format(most=len(most), n=len(used), ports=", ".join(map(str, used))),
            cause="one-4-tuple",
        )
    return Fail(
        _("at most {most} TIME_WAIT(s) at once (ports {ports})").format(most=len(most), ports=ports)
    )


@checks.add(
    OWN_TW,
    2,
    hints=(
        N_(
            "after lab.app_connect(port), answer the kernel's SYN, then let kernel_closes(port, "
            "kport, ecr) close it: look at the ladder for the kernel's answers"
        ),
        N_("the side that closes first ends in TIME_WAIT: here the kernel is the client"),
        N_("SYN+ACK: ack = the SYN's seq + 1; then ACK its FIN and send yours"),
    ),
    why=N_(
        "a client that closes first keeps TIME_WAIT on its own port: the 4-tuple it would "
        "need to connect to the same peer again"
    ),
)
def own_time_wait(obs: Observation) -> Pass | Fail | NotReached:
    outs = _outgoing(obs)
    if not outs:
        return NotReached(_("the application never connected to you (lab.app_connect)"))
    done = _in_time_wait(obs)
    if done:
        c = done[0]
        return Pass(
            _("TIME_WAIT from the kernel's port {kport} to your port {port}").format(
                kport=c.kport, port=c.sport
            )
        )
    c = outs[0]
    for seen in c.segments:
        if not seen.from_kernel and not c.accepted(seen):
            return Fail(c.reaction(seen), cause="own-close")
    if c.kernel_fin() is None:
        return NotReached(
            _("the application never closed its connection to port {port}").format(port=c.sport)
        )
    return NotReached(
        _("you did not close the connection to port {port} after its FIN").format(port=c.sport)
    )


@checks.add(
    N_("connect() to that 4-tuple again, at once"),
    1,
    hints=(
        N_(
            "right after the kernel's TIME_WAIT began, call lab.app_connect() with the same port "
            "of yours, inside try/except AppError, and print err.reply.errno"
        ),
    ),
    why=N_("with one local port, the only 4-tuple to that peer port is in TIME_WAIT"),
    needs=(OWN_TW,),
)
def at_once(obs: Observation) -> Pass | NotReached:
    ports = {c.sport for c in _in_time_wait(obs)}
    got = next((r for r in _refusals(obs) if r.port in ports), None)
    if got is None or got.prediction is None:
        return NotReached(_("you did not connect to that port again while it was in TIME_WAIT"))
    return Pass(
        _("connect() to your port {port} failed: {why}").format(
            port=got.port, why=got.prediction.why_text.show(_)
        )
    )


@checks.add(
    N_("the same kernel port connects to another port of yours"),
    2,
    hints=(
        N_(
            "while one 4-tuple is in TIME_WAIT, let the application connect to a new port of "
            "yours (lab.new_port()): which port does the kernel connect from?"
        ),
        N_(
            "only the 4-tuple is blocked: the kernel's port with another remote port is another "
            "connection"
        ),
    ),
    why=N_("TIME_WAIT blocks one 4-tuple, not a port: a client port may talk to many peers"),
    needs=(OWN_TW,),
)
def other_port(obs: Observation) -> Pass | NotReached:
    for c in _in_time_wait(obs):
        for start, end in _tw_spans(c):
            for o in _outgoing(obs):
                first = o.segments[0].time
                if o.kport == c.kport and o.sport != c.sport and start <= first < end:
                    return Pass(
                        _(
                            "from port {kport} to your port {port} while its 4-tuple with "
                            "your port {old} was in TIME_WAIT"
                        ).format(kport=o.kport, port=o.sport, old=c.sport)
                    )
    return NotReached(_("the kernel did not connect to another port of yours meanwhile"))


@checks.add(
    REUSED,
    3,
    hints=(
        N_("the failed connect() names why it failed: read the ladder and your printed errno"),
        N_(
            "tcp_tw_reuse lets connect() take a 4-tuple back only when PAWS can protect the new "
            "connection, and not at once"
        ),
        N_(
            "answer the kernel's first SYN with the timestamps option, then wait 1.5 s before "
            "connecting to that port again"
        ),
    ),
    why=N_(
        "with tcp_tw_reuse = 1 the kernel takes the 4-tuple back, with an ISN above "
        "everything the old connection sent"
    ),
    needs=(OWN_TW,),
)
def reused(obs: Observation) -> Pass | Fail | NotReached:
    for c in _in_time_wait(obs):
        syn = _reuse_syn(c)
        if syn is not None:
            return Pass(
                _("the kernel's new SYN to port {port}: seq {seq}").format(
                    port=c.sport, seq=c.seq_text(syn)
                )
            )
    if not _in_time_wait(obs):
        return NotReached(_("the kernel's own connection never reached TIME_WAIT"))
    first = _in_time_wait(obs)[0].sport
    tried = [r for r in _refusals(obs) if r.port in {c.sport for c in _in_time_wait(obs)}]
    if not tried:
        return NotReached(_("you did not connect to that port again later"))
    # the refusal that tells most: one of a connection with timestamps, else on the first port
    usable = [r for r in tried if r.prediction and r.prediction.rule != NO_TIMESTAMPS]
    last = (usable or [r for r in tried if r.port == first] or tried)[-1]
    assert last.prediction is not None
    if last.prediction.rule == NO_TIMESTAMPS:
        return Fail(
            _(
                "connect() to your port {port} was refused: your SYN+ACK carried no "
                "timestamps; {why}"
            ).format(port=last.port, why=last.prediction.why_text.show(_)),
            cause="no-timestamps",
        )
    return Fail(
        _("connect() to your port {port} was refused: {why}").format(
            port=last.port, why=last.prediction.why_text.show(_)
        ),
        cause=last.prediction.rule,
    )


@checks.add(
    N_("you complete the reused connection's handshake"),
    1,
    hints=(N_("answer the new SYN with SYN+ACK, as you answered the first"),),
    why=N_("the reused 4-tuple is a new connection with its own numbers"),
    needs=(REUSED,),
)
def reused_handshake(obs: Observation) -> Pass | Fail | NotReached:
    for c in _in_time_wait(obs):
        syn = _reuse_syn(c)
        if syn is None:
            continue
        answer = c.first_crafted(after=syn)
        if answer is None:
            return NotReached(
                _("you did not answer the new SYN to port {port}").format(port=c.sport)
            )
        if not c.accepted(answer):
            return Fail(c.reaction(answer))
        return Pass(
            _("ESTABLISHED again from port {kport} to your port {port}").format(
                kport=c.kport, port=c.sport
            )
        )
    return NotReached(_("the 4-tuple was not reused"))


@checks.add(
    N_("the 4-tuple of a connection without timestamps"),
    2,
    hints=(
        N_(
            "answer one connection's SYN without the timestamps option, let the kernel close "
            "it, wait, and let the application connect to that port again"
        ),
    ),
    why=N_(
        "without timestamps PAWS cannot tell the old connection's segments from a new "
        "one's: tcp_tw_reuse never takes such a 4-tuple back"
    ),
)
def without_timestamps(obs: Observation) -> Pass | NotReached:
    got = next(
        (r for r in _refusals(obs) if r.prediction and r.prediction.rule == NO_TIMESTAMPS), None
    )
    if got is None or got.prediction is None:
        return NotReached(_("no connect() met a TIME_WAIT of a connection without timestamps"))
    return Pass(
        _("connect() to your port {port} was refused: {why}").format(
            port=got.port, why=got.prediction.why_text.show(_)
        )
    )
