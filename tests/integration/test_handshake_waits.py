"""The handshake's two waits for silence end once the socket table shows nothing more can come
(tcplab.engine.handshake: _quiet_reply after the ACK, _settle_reset after the tidy-up's RST). Held against
the real kernel: nothing the kernel sends is missed, and a RST that did not reset still gets its
full wait and its answer seen, without waiting twice."""

from __future__ import annotations

import pytest

from tcplab.engine.handshake import HandshakeOptions, _Handshake
from tcplab.engine.session import Session
from tcplab.engine.target import Target
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.netns.record import TestbedSpec

pytestmark = pytest.mark.netns
LATE = 0.3  # how long the capture keeps looking once the handshake is over: 6 times `quiet`


def _kernel_sent(s: Session, sport: int) -> list[Flags]:
    return [x.segment.flags for x in s.seen if x.from_kernel and x.segment.dport == sport]


@pytest.mark.parametrize("data", [b"", b"hello"])
def test_nothing_the_kernel_sends_after_the_ack_or_the_rst_is_missed(lab: TestbedSpec, data):
    for _ in range(5):
        with Session(lab) as s:
            run = _Handshake(s, Target(lab, 7788), HandshakeOptions(data=data))
            try:
                run.go()
            finally:
                run.tidy_up()
            late = s.drain(LATE)
            assert run.report.ok, [c for c in run.report.checks if not c.ok]
            assert late == []
            want = [Flags.SYN | Flags.ACK] + ([Flags.ACK] if data else [])
            assert _kernel_sent(s, run.sport) == want


def test_a_rst_that_does_not_reset_is_waited_for_and_its_answer_seen(lab: TestbedSpec):
    with Session(lab) as s:
        run = _Handshake(s, Target(lab, 7788), HandshakeOptions(keep=True))
        try:
            run.go()
            assert run.report.ok
            nxt = run.me.snd_nxt
            assert nxt is not None
            # in the window but not at rcv_nxt: a challenge ACK (RFC 5961 §3.2), no reset
            s.send(Segment(run.sport, 7788, Flags.RST, seq=nxt + 1, window=0), echo=True)
            assert run._settle_reset() is False
            assert (
                _kernel_sent(s, run.sport)[-1] == Flags.ACK
            )  # the challenge ACK, read by the wait
            assert s.drain(0.05) == []
            s.send(Segment(run.sport, 7788, Flags.RST, seq=nxt, window=0), echo=True)
            assert run._settle_reset() is True
            assert s.connection(run.sport, 7788) is None
        finally:
            run.model.close()
