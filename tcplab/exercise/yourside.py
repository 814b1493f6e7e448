"""Your side's states in a lab check: the states a TCP would pass through sending and receiving
the segments your program crafted and the kernel's answers, as tcplab's one model has them.

Theory of operation: each connection gets an Endpoint of the model playing your side (as
engine/handshake.py keeps `self.me`), fed the capture in order. A segment of yours is read as the
application call that makes a TCP send it (a SYN from no socket: connect(); a FIN: close(); an
RST: an abortive close()) and the endpoint's answer must be that segment's kind; a segment that
changes nothing (an ACK, data) is only learnt (`observe`). A kernel segment is `receive`d. Where
your segment is not what the model's TCP could send there (a FIN before any SYN, a SYN+ACK with no
SYN to answer), the model stops following that connection: its states are not shown from there,
and a note says so, rather than a guess.

Pure: no session, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcplab.engine.report import How, Side, StateRow
from tcplab.engine.seen import Seen
from tcplab.model.endpoint import Endpoint, Prediction
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.state import State
from tcplab.model.table import Input, Place

_SYNCHRONIZED = {
    State.SYN_RECEIVED,
    State.ESTABLISHED,
    State.FIN_WAIT_1,
    State.FIN_WAIT_2,
    State.CLOSE_WAIT,
    State.CLOSING,
    State.LAST_ACK,
    State.TIME_WAIT,
}


@dataclass
class Followed:
    """Your side's state changes (with the segment each came with) and why a connection was left."""

    rows: list[tuple[Seen, StateRow]] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)


def _call(ep: Endpoint, inp: Input, seen: Seen, want: Flags) -> bool:
    """The call that makes a TCP send `seen`; whether the model's TCP sends that kind then."""
    try:
        answer: Prediction = ep.call(inp, seen.time)
    except (KeyError, ValueError, StopIteration):
        return False  # no such call in this state: the table has no row for it
    p = answer.pattern
    return p is not None and want in p.flags


def _sent(ep: Endpoint, seen: Seen) -> bool:
    """Your segment through the endpoint; False: the model's TCP would not send it here."""
    seg, state = seen.segment, ep.place.state
    syn, fin, rst = (f in seg.flags for f in (Flags.SYN, Flags.FIN, Flags.RST))
    if rst:
        return _call(ep, Input.APP_ABORT, seen, Flags.RST) if state in _SYNCHRONIZED else False
    if syn:
        if Flags.ACK in seg.flags:
            ok = state is State.SYN_RECEIVED  # answering the kernel's SYN
        elif state is State.SYN_SENT:
            ok = seg.seq == ep.iss  # a retransmission
        else:
            ok = state is State.CLOSED and _call(ep, Input.APP_CONNECT, seen, Flags.SYN)
    elif fin:
        ok = state in _SYNCHRONIZED and (ep.fin_sent or _call(ep, Input.APP_CLOSE, seen, Flags.FIN))
    else:
        ok = state in _SYNCHRONIZED
    if ok:
        ep.observe(seg)
    return ok


def _what(seg: Segment, state: State) -> str:
    return f"a TCP in {state.value} does not send {seg.flags.tcpdump} (tcplab's model)"


def _answers(seen: Seen, syn: Seen | None) -> bool:
    """Your SYN+ACK answers the kernel's SYN (as a listener would)."""
    return (
        syn is not None
        and seen.segment.flags == Flags.SYN | Flags.ACK
        and (seen.segment.ack == (syn.segment.seq + 1) % (1 << 32))
    )


def follow(segments: list[Seen]) -> Followed:
    """Your side's states on each connection of `segments` (in capture order)."""
    out = Followed()
    eps: dict[tuple[int, int], Endpoint] = {}
    lost: set[tuple[int, int]] = set()
    syns: dict[tuple[int, int], Seen] = {}  # the kernel's last SYN on each connection
    for seen in segments:
        key = seen.key
        if key in lost:
            continue
        ep = eps.get(key)
        if ep is None or (ep.place.state is State.CLOSED and not seen.from_kernel):
            ep = eps[key] = Endpoint()  # a new connection (again) from no socket
            if _answers(seen, syns.get(key)):  # a SYN+ACK to the kernel's SYN: a listener's
                ep = eps[key] = Endpoint(place=Place.LISTEN, listener=True)
                ep.receive(syns[key].segment, syns[key].time)
        before = ep.place.state
        if seen.from_kernel and seen.segment.flags == Flags.SYN:
            syns[key] = seen
        if seen.from_kernel:
            ep.receive(seen.segment, seen.time, seen.checksum_ok)
        elif not _sent(ep, seen):
            lost.add(key)
            text = f"your side's states on port {key[0]} stop here: {_what(seen.segment, before)}"
            out.notes.append((seen.time, text))
            continue
        after = ep.place.state
        if after is not before:
            how = "received" if seen.from_kernel else "sent"
            note = f"tcplab's model of your side: {seen.segment.flags.tcpdump} {how}"
            out.rows.append(
                (seen, StateRow(Side.CRAFTING, before, after, How.MODEL, note, seen.time, key))
            )
    return out
