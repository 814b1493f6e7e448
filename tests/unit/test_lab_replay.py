"""A lab check's exchange replayed through the model (no root): recorded segments and the
application's log of calls, each kernel segment explained by its own cause; the kit's view of it."""

from __future__ import annotations

from typing import Any

import pytest

from tcplab.app.protocol import Event
from tcplab.engine.seen import Seen
from tcplab.exercise.kit import Observation, ObservedConn
from tcplab.exercise.replay import replay
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.state import State

S, A, F, R, P = Flags.SYN, Flags.ACK, Flags.FIN, Flags.RST, Flags.PSH
ME, K = 40000, 7788
ISS, KISN = 1000, 5000


def mine(
    flags: Flags, seq: int, ack: int = 0, t: float = 0.0, data: bytes = b"", me: int = ME
) -> Seen:
    seg = Segment(me, K, flags, seq=seq, ack=ack, payload=data)
    return Seen(seg, "10.77.0.1", "10.77.0.2", t, from_kernel=False, checksum_ok=True)


def kernel(
    flags: Flags, seq: int, ack: int = 0, t: float = 0.0, data: bytes = b"", me: int = ME
) -> Seen:
    seg = Segment(K, me, flags, seq=seq, ack=ack, payload=data)
    return Seen(seg, "10.77.0.2", "10.77.0.1", t, from_kernel=True, checksum_ok=True)


def event(op: str, t: float, me: int | None = ME, **kw: Any) -> Event:
    return Event(op=op, time=t, id=kw.pop("id", 2), local_port=kw.pop("local_port", K),
                 peer_port=me, ok=kw.pop("ok", True), **kw)  # fmt: skip


LISTEN = event("listen", 0.5, None, id=1, backlog=128, auto=True)


def handshake(t: float = 1.0, me: int = ME) -> list[Seen]:
    return [
        mine(S, ISS, t=t, me=me),
        kernel(S | A, KISN, ISS + 1, t=t + 0.0001, me=me),
        mine(A, ISS + 1, KISN + 1, t=t + 0.01, me=me),
    ]


def test_the_fin_after_app_close_is_explained_by_that_call():
    fin = kernel(F | A, KISN + 1, ISS + 1, t=2.0001)
    seen = [*handshake(), fin]
    out = replay(seen, [LISTEN, event("accept", 1.02, auto=True), event("close", 2.0)])
    rec = out.explainer.predictions[id(fin)]
    assert rec.agrees and rec.cause == "app close() at +1.000 s"
    assert rec.prediction.text() == f"F. seq {KISN + 1} ack {ISS + 1}"
    assert not out.findings


def test_each_crafted_segment_is_named_for_the_student_and_predicted():
    seen = handshake()
    out = replay(seen, [LISTEN])
    first, third = (out.explainer.predictions[id(seen[i])] for i in (0, 2))
    assert first.cause == f"your segment 1 (S) from port {ME}" and first.agrees
    assert third.cause == f"your segment 2 (A) from port {ME}" and third.agrees
    assert out.explainer.predictions[id(seen[1])] is first


def test_data_the_application_sends_is_explained_by_its_send():
    data = kernel(P | A, KISN + 1, ISS + 1, t=2.0001, data=b"hi")
    out = replay([*handshake(), data], [LISTEN, event("send", 2.0, nbytes=2)])
    rec = out.explainer.predictions[id(data)]
    assert rec.agrees and rec.cause == "app send() at +1.000 s"


def test_a_close_with_unread_data_resets_and_a_read_makes_it_a_fin():
    def predicted_after_close(read: bool) -> str | None:
        hello = mine(P | A, ISS + 1, KISN + 1, t=1.02, data=b"hello")
        ack = kernel(A, KISN + 1, ISS + 6, t=1.0201)
        answer = kernel(F | A, KISN + 1, ISS + 6, t=2.0001)
        events = [LISTEN, event("close", 2.0)]
        if read:
            events.append(event("recv", 1.5, nbytes=5))
        out = replay([*handshake(), hello, ack, answer], events)
        rec = out.explainer.predictions[id(answer)]
        assert rec.cause == "app close() at +1.000 s"
        return rec.prediction.text()

    assert predicted_after_close(read=False) == f"R. seq {KISN + 1} ack {ISS + 6}"
    assert predicted_after_close(read=True) == f"F. seq {KISN + 1} ack {ISS + 6}"


def test_so_linger_zero_then_close_is_an_abort():
    rst = kernel(R | A, KISN + 1, ISS + 1, t=2.0001)
    events = [LISTEN, event("setsockopt", 1.9, linger0=True), event("close", 2.0)]
    out = replay([*handshake(), rst], events)
    rec = out.explainer.predictions[id(rst)]
    assert rec.agrees and rec.cause.startswith("app close()")
    assert rec.prediction.pattern is not None and Flags.RST in rec.prediction.pattern.flags


def test_the_kernels_syn_after_connect_is_explained_by_the_connect():
    kport = 50000
    syn = Seen(Segment(kport, ME, S, seq=KISN), "10.77.0.2", "10.77.0.1", 1.0001, True, True)
    connect = Event(op="connect", time=1.0, id=3, local_port=kport, peer_port=ME, ok=True)
    out = replay([syn], [LISTEN, connect])
    rec = out.explainer.predictions[id(syn)]
    assert rec.agrees and rec.cause == "app connect() at -0.000 s"


def test_other_ports_are_not_fed_and_failed_calls_are_ignored():
    other = handshake(me=41000)
    seen = [*handshake(), *other]
    events = [LISTEN, event("close", 2.0, me=41000), event("close", 2.0, ok=False)]
    out = replay(seen, events, allowed=[ME])
    assert (41000, K) not in out.explainer.conns
    assert all(id(s) not in out.explainer.predictions for s in other)
    assert not out.explainer.conns[(ME, K)].open and not out.findings


def test_a_kernel_segment_nothing_explains_is_a_finding():
    stray = kernel(S, KISN + 7, t=0.9)  # before anything of the student's
    seen = [stray, *handshake()]
    out = replay(seen, [LISTEN])
    assert id(stray) not in out.explainer.predictions
    assert [when for when, _ in out.findings] == [0.9]
    assert "predicted no segment from the kernel" in out.findings[0][1]
    assert "the kernel sent S" in out.explainer.findings[0]


def test_the_kit_gives_checks_the_models_view():
    syn, synack, ack = handshake()
    rst = mine(R, ISS + 50, t=1.1)  # in the window, not at rcv_nxt: a challenge ACK
    challenge = kernel(A, KISN + 1, ISS + 1, t=1.1001)
    seen = [syn, synack, ack, rst, challenge]
    conn = ObservedConn(ME, K)
    for s in seen:
        conn.add(s)
    obs = Observation([conn], seen, 0, False)
    model = replay(seen, [LISTEN], isns={(ME, K): conn.iss})
    obs.predictions.update(model.explainer.predictions)
    got = conn.predicted(conn.crafted(R)[0])
    assert got is not None and got.agrees and got.prediction.rule == "rst-in-window"
    assert conn.answer(rst.segment) is challenge.segment
    assert conn.explanation(challenge) is got and conn.predicted(challenge) is None
    assert conn.explanation(synack.segment) is conn.predicted(syn)
    assert conn.answer(ack.segment) is None  # the third ACK: nothing answers it


def observed(seen: list[Seen], events: list[Event]) -> ObservedConn:
    conn = ObservedConn(ME, K)
    for s in seen:
        conn.add(s)
    obs = Observation([conn], seen, 0, False)
    obs.predictions.update(replay(seen, events, isns={(ME, K): conn.iss}).explainer.predictions)
    return conn


def test_a_checks_verdict_names_the_rule_and_the_kernels_disagreement():
    syn, synack, ack = handshake()
    fin = mine(F | A, ISS + 1, KISN + 1, t=1.1)
    wrong = kernel(R, KISN + 1, t=1.1001)  # the model says ACK (CLOSE_WAIT)
    seen = [syn, synack, ack, fin, wrong]
    conn = observed(seen, [LISTEN])
    assert conn.verdict(syn, "listen-syn") == (
        True,
        "as tcplab's model predicts: S. seq * ack 1001 (rule listen-syn)",
    )
    ok, said = conn.verdict(fin, "fin")
    assert not ok and said.startswith("tcplab's model predicted .") and "the kernel did R" in said
    ok, said = conn.verdict(ack, "rst-exact")
    assert not ok and "not rst-exact" in said


def test_model_states_prove_states_the_sampler_missed_and_only_agreed_ones():
    syn, synack, ack = handshake()
    fin = kernel(F | A, KISN + 1, ISS + 1, t=2.0001)
    last = mine(A, ISS + 1, KISN + 2, t=2.01)
    conn = observed([syn, synack, ack, fin, last], [LISTEN, event("close", 2.0)])
    assert conn.model_states() == [
        State.SYN_RECEIVED, State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2,
    ]  # fmt: skip
    nothing = observed([syn, synack, ack], [LISTEN, event("close", 2.0)])  # no FIN came
    assert nothing.model_states() == [State.SYN_RECEIVED, State.ESTABLISHED]


def test_a_state_the_table_caught_inside_one_segment_is_not_reached_when_the_model_explains_all():
    from tcplab.exercise.kit import Sample

    y = 3_000_000_000  # the kernel's ISN: its seq is far from yours, its ack ahead of snd_nxt
    syn, synack = mine(S, ISS, t=1.0), kernel(S | A, y, ISS + 1, t=1.0001)
    ack = mine(A, ISS + 1, y + 1, t=1.01)
    fin = kernel(F | A, y + 1, ISS + 1, t=2.0001)
    swapped = mine(A, y + 2, ISS + 1, t=2.01)  # seq and ack swapped
    dup = kernel(A, y + 2, ISS + 1, t=2.0101)
    both = mine(F | A, ISS + 1, y + 2, t=2.06)  # FIN_WAIT_1 -> TIME_WAIT in one segment
    last = kernel(A, y + 2, ISS + 2, t=2.0601)
    seen = [syn, synack, ack, fin, swapped, dup, both, last]
    conn = observed(seen, [LISTEN, event("close", 2.0)])
    # the seq is checked first (tcp_validate_incoming), the ack after (tcp_ack)
    assert conn.verdict(swapped, "dup-ack")[0]
    # sock_diag read the socket while it processed the FIN+ACK
    passing = Sample(time=2.06005, state=State.FIN_WAIT_2, timer="", expires_ms=0, rqueue=0)
    conn.samples = [passing]
    assert conn.model_explains_all()
    assert State.FIN_WAIT_2 not in conn.model_states() and conn.reached(State.TIME_WAIT)
    assert not conn.reached(State.FIN_WAIT_2)
    # where the model cannot explain the kernel, the socket table is the evidence
    conn.predictions.pop(id(last))
    assert not conn.model_explains_all() and conn.reached(State.FIN_WAIT_2)


@pytest.mark.parametrize(
    ("lab", "name"),
    [
        ("state-tour", "last_ack_relative"),
        ("simultaneous", "starter"),
        ("time-wait", "fin_off_by_one_throughout"),
    ],
)
def test_the_kernels_fin_sent_again_is_explained_by_its_retransmission_timer(lab, name):
    """Recorded runs where the kernel's FIN was never ACKed: each FIN it sent again is the
    model's fin-retransmit (its RTO from the handshake's round trip), not an unexplained segment."""
    from tcplab.exercise.catalog import get
    from tcplab.exercise.evaluate import evaluate
    from tcplab.exercise.recording import Recording
    from tests.labcases import recorded

    ev = evaluate(get(lab), Recording.load(recorded(lab, name)))
    fins = [s for s in ev.observation.segments if s.from_kernel and Flags.FIN in s.segment.flags]
    again = [s for i, s in enumerate(fins) if any(f.key == s.key for f in fins[:i])]
    assert again, "the recording has the kernel's FIN sent again"
    rules = [ev.observation.predictions[id(s)].prediction.rule for s in again]
    assert set(rules) == {"fin-retransmit"}
    assert not any("predicted no segment" in f for f in ev.observation.findings)
