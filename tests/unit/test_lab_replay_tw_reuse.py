"""The kernel as a client with one port, replayed through the model (no root): its connect()
onto a 4-tuple in TIME_WAIT, refused (with the model's reason) or reused (ISN = old snd_nxt +
65537), as `lab check port-reuse` sees it on this machine's kernel."""

from __future__ import annotations

from tcplab.app.protocol import Event
from tcplab.engine.seen import Seen
from tcplab.exercise.replay import replay
from tcplab.model.endpoint import Sysctls
from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment

S, A, F = Flags.SYN, Flags.ACK, Flags.FIN
ME, KPORT = 41001, 32768
ISS, KISN = 1000, 7000
TS = (Option("TS", (100, 900)),)
REUSE = Sysctls(tcp_tw_reuse=1)


def mine(flags: Flags, seq: int, ack: int, t: float, ts: bool = True) -> Seen:
    seg = Segment(ME, KPORT, flags, seq=seq, ack=ack, options=TS if ts else ())
    return Seen(seg, "10.77.0.1", "10.77.0.2", t, from_kernel=False, checksum_ok=True)


def kernel(flags: Flags, seq: int, ack: int, t: float) -> Seen:
    seg = Segment(KPORT, ME, flags, seq=seq, ack=ack, options=TS)
    return Seen(seg, "10.77.0.2", "10.77.0.1", t, from_kernel=True, checksum_ok=True)


def connect(t: float, ok: bool = True) -> Event:
    port = KPORT if ok else None
    return Event(op="connect", time=t, id=3, local_port=port, peer_port=ME, ok=ok)


CLOSE = Event(op="close", time=1.2, id=3, local_port=KPORT, peer_port=ME, ok=True)


def to_time_wait(ts: bool = True) -> list[Seen]:
    """connect() at 1.0, our SYN+ACK, the kernel closes first; TIME_WAIT at 1.3."""
    return [
        kernel(S, KISN, 0, 1.0001),
        mine(S | A, ISS, KISN + 1, 1.1, ts),
        kernel(A, KISN + 1, ISS + 1, 1.1001),
        kernel(F | A, KISN + 1, ISS + 1, 1.2001),
        mine(A, ISS + 1, KISN + 2, 1.25, ts),
        mine(F | A, ISS + 1, KISN + 2, 1.3, ts),
        kernel(A, KISN + 2, ISS + 2, 1.3001),
    ]


def test_a_connect_that_failed_at_once_is_too_soon_for_the_model():
    out = replay(to_time_wait(), [connect(1.0), CLOSE, connect(1.31, ok=False)], REUSE)
    (refused,) = out.explainer.refused
    assert refused.port == ME and refused.prediction is not None
    assert refused.prediction.rule == "time-wait-connect-too-soon" and not out.findings


def test_without_timestamps_the_refusal_names_them():
    seen = to_time_wait(ts=False)
    out = replay(seen, [connect(1.0), CLOSE, connect(3.0, ok=False)], REUSE)
    assert out.explainer.refused[0].prediction.rule == "time-wait-connect-no-timestamps"


def test_the_reused_syn_is_explained_by_the_connect_with_isn_plus_65537():
    syn = kernel(S, KISN + 2 + 65537, 0, 2.9001)
    out = replay([*to_time_wait(), syn], [connect(1.0), CLOSE, connect(2.9)], REUSE)
    rec = out.explainer.predictions[id(syn)]
    assert rec.agrees and rec.prediction.rule == "time-wait-reuse"
    assert rec.cause.startswith("app connect()") and not out.findings


def test_a_refused_connect_the_model_would_have_reused_is_a_finding():
    out = replay(to_time_wait(), [connect(1.0), CLOSE, connect(2.9, ok=False)], REUSE)
    assert out.explainer.refused[0].prediction.rule == "time-wait-reuse"
    assert any("failed, but tcplab's model predicted S seq" in f for _, f in out.findings)
    assert out.explainer.conns[(ME, KPORT)].endpoint.place.value == "TIME_WAIT"


def test_a_failed_connect_with_no_time_wait_followed_has_no_prediction():
    out = replay([], [connect(1.0, ok=False)], REUSE)
    assert out.explainer.refused[0].prediction is None


def test_a_time_wait_on_a_listeners_port_is_not_the_one_connect_met():
    def seen(flags: Flags, seq: int, ack: int, t: float, from_kernel: bool) -> Seen:
        ports = (7788, ME) if from_kernel else (ME, 7788)
        seg = Segment(*ports, flags, seq=seq, ack=ack)
        return Seen(seg, "10.77.0.1", "10.77.0.2", t, from_kernel=from_kernel, checksum_ok=True)

    server = [
        seen(S, ISS, 0, 0.6, False),
        seen(S | A, KISN, ISS + 1, 0.6001, True),
        seen(A, ISS + 1, KISN + 1, 0.7, False),
        seen(F | A, KISN + 1, ISS + 1, 0.8001, True),
        seen(A, ISS + 1, KISN + 2, 0.85, False),
        seen(F | A, ISS + 1, KISN + 2, 0.9, False),
        seen(A, KISN + 2, ISS + 2, 0.9001, True),
    ]
    listen = Event(op="listen", time=0.5, id=1, local_port=7788, peer_port=None, ok=True, auto=True)
    close = Event(op="close", time=0.8, id=2, local_port=7788, peer_port=ME, ok=True)
    out = replay(server, [listen, close, connect(3.0, ok=False)], REUSE)
    assert out.explainer.conns[(ME, 7788)].endpoint.place.value == "TIME_WAIT"
    assert out.explainer.refused[-1].prediction is None
