"""The proof that nothing more can come (tcplab.engine.quiet), from recorded observations."""

from __future__ import annotations

import pytest

from tcplab.engine.quiet import GRACE, MARGIN, Conn, owes_ack, settled, timers_quiet
from tcplab.engine.seen import Seen
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.state import State
from tcplab.netns.diag import SocketRow

CONN = Conn(40000, 7788)


def crafted(flags: str, seq: int, payload: bytes = b"", **kw: bool) -> Seen:
    seg = Segment(40000, 7788, Flags.from_letters(flags), seq=seq, ack=1, payload=payload)
    return Seen(seg, "10.0.0.1", "10.0.0.2", 0.0, False, kw.get("checksum_ok", True))


def kernel(ack: int, flags: str = "A") -> Seen:
    seg = Segment(7788, 40000, Flags.from_letters(flags), seq=1, ack=ack)
    return Seen(seg, "10.0.0.2", "10.0.0.1", 0.0, True, True)


def row(timer: str = "off", expires_ms: int = 0, wqueue: int = 0) -> SocketRow:
    return SocketRow(
        State.ESTABLISHED,
        1,
        "10.0.0.2",
        7788,
        "10.0.0.1",
        40000,
        timer,
        expires_ms,
        0,
        0,
        wqueue,
        1,
    )


@pytest.mark.parametrize(
    ("seen", "owed"),
    [
        ([], False),
        ([crafted("S", 100)], True),  # a SYN not answered yet
        ([crafted("S", 100), kernel(101, "SA")], False),
        ([crafted("S", 100), kernel(101, "SA"), crafted("PA", 101, b"hello")], True),
        ([crafted("PA", 101, b"hello"), kernel(106)], False),
        ([crafted("PA", 101, b"hello"), kernel(104)], True),  # part of it acknowledged
        ([crafted("FA", 101), kernel(101)], True),  # the FIN not acknowledged
        ([crafted("FA", 101), kernel(102)], False),
        ([crafted("A", 101), crafted("R", 101)], False),  # pure ACKs and RSTs are never ACKed
        ([crafted("PA", 101, b"x", checksum_ok=False)], False),  # TCP drops it: nothing owed
        ([crafted("PA", 0xFFFFFFFF, b"xx"), kernel(1)], False),  # across the wrap
        ([crafted("PA", 0xFFFFFFFF, b"xx"), kernel(0)], True),
    ],
)
def test_owes_ack(seen: list[Seen], owed: bool) -> None:
    assert owes_ack(CONN, seen) is owed


def test_another_connections_segments_do_not_count() -> None:
    other = Conn(40001, 7788)
    assert not owes_ack(other, [crafted("PA", 101, b"hello")])


@pytest.mark.parametrize(
    ("rows", "left", "quiet"),
    [
        ([], 0.5, True),  # no socket: it can only answer
        ([row()], 0.5, True),
        ([row("on", 1000)], 0.5, True),  # the SYN+ACK resend after the wait
        ([row("on", 500)], 0.5, False),  # inside the margin
        ([row("on", int((0.5 + MARGIN) * 1000))], 0.5, True),
        ([row("on", 200)], 0.5, False),
        ([row("on", 0)], 0.01, False),  # firing now
        ([row("timewait", 60000)], 0.5, True),
        ([row(wqueue=5)], 0.5, False),  # unsent data, no timer: pacing may send it any time
        ([row("on", 5000, wqueue=5)], 0.5, False),
        ([row(), row("keepalive", 100)], 0.5, False),  # every socket of the 4-tuple counts
    ],
)
def test_timers_quiet(rows: list[SocketRow], left: float, quiet: bool) -> None:
    assert timers_quiet(rows, left) is quiet


def test_settled_waits_a_grace_after_the_last_segment_and_call() -> None:
    assert settled(None, None, 10.0)
    assert settled(10.0 - 2 * GRACE, None, 10.0)
    assert not settled(10.0 - GRACE / 2, None, 10.0)
    assert not settled(None, 10.0 - GRACE / 2, 10.0)
