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

import copy
from dataclasses import dataclass, field

from tcplab.engine.report import How, Side, StateRow
from tcplab.engine.seen import Seen
from tcplab.i18n import _
from tcplab.model.endpoint import Endpoint, Prediction
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.seqnum import seq_add
from tcplab.model.state import State
from tcplab.model.table import MINI, SYNC, Input, Place


@dataclass
class Followed:
    """Your side's state changes (with the segment each came with) and why a connection was left."""

    rows: list[tuple[Seen, StateRow]] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)


def _call(ep: Endpoint, inp: Input, seen: Seen, want: Flags) -> bool:
    """The call that makes a TCP send `seen`; whether the model's TCP sends that kind then (the
    endpoint is changed only when it does)."""
    trial = copy.deepcopy(ep)
    try:
        answer: Prediction = trial.call(inp, seen.time)
    except (KeyError, ValueError, StopIteration):
        return False  # no such call in this state: the table has no row for it
    p = answer.pattern
    if p is None or want not in p.flags or (want is Flags.SYN and p.flags != seen.segment.flags):
        return False  # (a SYN+ACK is not what connect() sends)
    ep.__dict__.update(trial.__dict__)
    return True


def _sent(ep: Endpoint, seen: Seen, reply: Prediction | None) -> bool:
    """Your segment through the endpoint; False: the model's TCP would not send it here. It is
    the model's answer to the kernel's last segment (`reply`), or what an application call makes
    it send (SYN: connect(), FIN: close(), RST: an abortive close()), or the same SYN again, or
    an ACK or data on a connection the model has synchronized."""
    seg = seen.segment
    answered = reply is not None and reply.pattern is not None and reply.pattern.flags == seg.flags
    if answered:
        ok = True
    elif Flags.RST in seg.flags:
        ok = _call(ep, Input.APP_ABORT, seen, Flags.RST)
    elif Flags.SYN in seg.flags:
        again = ep.place is Place.SYN_SENT and seg.seq == ep.iss
        ok = again or _call(ep, Input.APP_CONNECT, seen, Flags.SYN)
    elif Flags.FIN in seg.flags:
        ok = ep.place in SYNC and (ep.fin_sent or _call(ep, Input.APP_CLOSE, seen, Flags.FIN))
    else:
        ok = ep.place in SYNC or ep.place in MINI
    if ok:
        ep.observe(seg)
    return ok


def _what(seg: Segment, state: State) -> str:
    return _("a TCP in {state} does not send {flags} (tcplab's model)").format(
        state=state.value, flags=seg.flags.tcpdump
    )


def _answers(seen: Seen, syn: Seen | None) -> bool:
    """Your SYN+ACK acknowledges the kernel's SYN (as a listener's would)."""
    return (
        syn is not None
        and seen.segment.flags == Flags.SYN | Flags.ACK
        and seen.segment.ack == seq_add(syn.segment.seq, 1)
    )


def follow(segments: list[Seen]) -> Followed:
    """Your side's states on each connection of `segments` (in capture order)."""
    out = Followed()
    eps: dict[tuple[int, int], Endpoint] = {}
    lost: set[tuple[int, int]] = set()
    syns: dict[tuple[int, int], Seen] = {}  # the kernel's last SYN on each connection
    replies: dict[tuple[int, int], Prediction] = {}  # the model's answer to its last segment
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
            replies[key] = ep.receive(seen.segment, seen.time, seen.checksum_ok)
        elif not _sent(ep, seen, replies.pop(key, None)):
            lost.add(key)
            text = _("your side's states on port {port} stop here: {why}").format(
                port=key[0], why=_what(seen.segment, before)
            )
            out.notes.append((seen.time, text))
            continue
        after = ep.place.state
        if after is not before:
            flags = seen.segment.flags.tcpdump
            if seen.from_kernel:
                note = _("tcplab's model of your side: {flags} received").format(flags=flags)
            else:
                note = _("tcplab's model of your side: {flags} sent").format(flags=flags)
            out.rows.append(
                (seen, StateRow(Side.CRAFTING, before, after, How.MODEL, note, seen.time, key))
            )
    return out
