"""The explainer on recorded exchanges (no root): each kernel segment by its own cause."""

from tcplab.engine.explain import Explainer
from tcplab.engine.seen import Seen
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.table import Input

S, A, F, R, P = Flags.SYN, Flags.ACK, Flags.FIN, Flags.RST, Flags.PSH
ME, K = 40000, 7788
ISS, KISN = 1000, 5000


def mine(flags: Flags, seq: int, ack: int = 0, t: float = 0.0, data: bytes = b"") -> Seen:
    seg = Segment(ME, K, flags, seq=seq, ack=ack, payload=data)
    return Seen(seg, "10.0.0.1", "10.0.0.2", t, from_kernel=False, checksum_ok=True)


def kernel(flags: Flags, seq: int, ack: int = 0, t: float = 0.0) -> Seen:
    seg = Segment(K, ME, flags, seq=seq, ack=ack)
    return Seen(seg, "10.0.0.2", "10.0.0.1", t, from_kernel=True, checksum_ok=True)


def replay(*events: Seen) -> tuple[Explainer, list[Seen]]:
    ex = Explainer(follow_new=True)
    ex.listen(K, 128, 0.0)
    ex.absorb(events, lambda seen: f"segment at {seen.time:g} s")
    return ex, list(events)


def test_a_replayed_handshake_is_predicted_and_agrees():
    ex, (syn, synack, ack) = replay(
        mine(S, ISS, t=1.0),
        kernel(S | A, KISN, ISS + 1, t=1.0001),
        mine(A, ISS + 1, KISN + 1, t=1.01),
    )
    ex.close()
    first = ex.predictions[id(syn)]
    assert first.prediction.text() == "S. seq * ack 1001"  # the kernel's ISN is its own choice
    assert first.agrees and first.cause == "segment at 1 s"
    assert ex.predictions[id(synack)] is first  # the SYN+ACK is explained by the SYN
    third = ex.predictions[id(ack)]
    assert third.silence and third.agrees and third.prediction.place.value == "ESTABLISHED"
    assert not ex.findings
    assert ex.conns[(ME, K)].irs == KISN and ex.conns[(ME, K)].iss == ISS


def test_a_fin_after_close_is_explained_by_the_call_not_by_the_last_segment():
    ex, _ = replay(
        mine(S, ISS, t=1.0),
        kernel(S | A, KISN, ISS + 1, t=1.0001),
        mine(A, ISS + 1, KISN + 1, t=1.01),
    )
    ex.app((ME, K), Input.APP_CLOSE, 2.0, "app close()")
    fin = kernel(F | A, KISN + 1, ISS + 1, t=2.0001)
    ex.absorb([fin])
    rec = ex.predictions[id(fin)]
    assert rec.cause == "app close()" and rec.agrees
    assert rec.prediction.text() == f"F. seq {KISN + 1} ack {ISS + 1}"


def test_data_is_acked_and_a_segment_the_model_did_not_predict_is_a_finding():
    ex, (_, _, _, data, dack, rst, reply) = replay(
        mine(S, ISS, t=1.0),
        kernel(S | A, KISN, ISS + 1, t=1.0001),
        mine(A, ISS + 1, KISN + 1, t=1.01),
        mine(P | A, ISS + 1, KISN + 1, t=1.02, data=b"hello"),
        kernel(A, KISN + 1, ISS + 6, t=1.0201),
        mine(R, ISS + 10, t=1.03),  # in the window, not at rcv_nxt: a challenge ACK
        kernel(R, KISN + 1, t=1.0301),  # not what the model said
    )
    assert ex.predictions[id(data)].agrees and ex.predictions[id(dack)].agrees
    wrong = ex.predictions[id(reply)]
    assert wrong is ex.predictions[id(rst)] and wrong.agrees is False
    assert wrong.prediction.text() == f". seq {KISN + 1} ack {ISS + 6}"
    assert ex.findings and "the kernel did R" in ex.findings[0]


def test_a_predicted_silence_holds_until_the_next_crafted_segment():
    ex, (_, _, ack, dup) = replay(
        mine(S, ISS, t=1.0),
        kernel(S | A, KISN, ISS + 1, t=1.0001),
        mine(A, ISS + 1, KISN + 1, t=1.01),
        mine(A, ISS + 1, KISN + 1, t=1.02),  # a duplicate ACK: dropped, nothing sent
    )
    assert ex.predictions[id(ack)].agrees is True  # decided when the next one was sent
    assert ex.predictions[id(dup)].agrees is None
    ex.close()
    assert ex.predictions[id(dup)].agrees is True


def test_a_timer_explains_the_retransmitted_syn_ack():
    ex, (syn, first) = replay(
        mine(S, ISS, t=1.0),
        kernel(S | A, KISN, ISS + 1, t=1.0001),
    )
    again = kernel(S | A, KISN, ISS + 1, t=2.001)  # the SYN+ACK retransmitted after 1 s
    ex.absorb([again])
    rec = ex.predictions[id(again)]
    assert rec.cause.startswith("timer") and rec.agrees
    assert ex.predictions[id(first)] is ex.predictions[id(syn)]


def test_segments_of_connections_nobody_follows_are_left_alone():
    ex = Explainer()
    stray = mine(S, ISS, t=1.0)
    ex.absorb([stray])
    assert not ex.conns and id(stray) not in ex.predictions


def test_a_connect_moves_the_followed_connection_to_the_kernel_port():
    ex = Explainer()
    ex.follow((ME, 0), ISS)
    ex.moved((ME, 0), (ME, K))
    ex.app((ME, K), Input.APP_CONNECT, 1.0, "app connect()")
    syn = kernel(S, KISN, t=1.0001)
    ex.absorb([syn])
    assert ex.predictions[id(syn)].agrees and ex.conns[(ME, K)].irs == KISN


def test_a_closed_listener_no_longer_reopens_time_wait():
    """linux-time-wait-segments: after close(listener) a new SYN gets the TIME_WAIT ACK."""
    ex, _ = replay(
        mine(S, ISS, t=1.0),
        kernel(S | A, KISN, ISS + 1, t=1.0001),
        mine(A, ISS + 1, KISN + 1, t=1.01),
    )
    ex.app((ME, K), Input.APP_CLOSE, 1.1, "close")
    ex.absorb([kernel(F | A, KISN + 1, ISS + 1, t=1.1001), mine(F | A, ISS + 1, KISN + 2, t=1.2)])
    ex.absorb([kernel(A, KISN + 2, ISS + 2, t=1.2001)])
    ex.unlisten(K)
    syn = mine(S, ISS + 100, t=1.3)
    ex.absorb([syn])
    assert ex.predictions[id(syn)].prediction.rule == "time-wait-ack"
    assert K not in ex.listeners


def test_a_timer_segment_far_past_its_deadline_is_a_finding():
    ex, _ = replay(mine(S, ISS, t=1.0), kernel(S | A, KISN, ISS + 1, t=1.0001))
    late = kernel(S | A, KISN, ISS + 1, t=2.6)  # the retransmission was due at 2.0 s
    ex.absorb([late])
    rec = ex.predictions[id(late)]
    assert rec.cause.startswith("timer") and rec.agrees is False
    assert "0.60 s after the model's deadline" in ex.findings[0]


def test_a_finding_and_a_summary_show_numbers_relative_to_the_right_isn():
    ex, (*_, rst, reply) = replay(
        mine(S, ISS, t=1.0),
        kernel(S | A, KISN, ISS + 1, t=1.0001),
        mine(A, ISS + 1, KISN + 1, t=1.01),
        mine(R, ISS + 10, t=1.03),  # in the window, not at rcv_nxt: a challenge ACK
        kernel(R, KISN + 1, t=1.0301),
    )
    rec = ex.predictions[id(reply)]
    assert rec.predicted_text() == ". seq 1 ack 1"  # the kernel's seq from its ISN, ack from ours
    assert "predicted . seq 1 ack 1 after segment at 1.03 s (rule " in ex.findings[0]
    assert rec.summary().endswith("the kernel did not")
    assert rec.to_json()["relative"] == ". seq 1 ack 1"
    assert rec.to_json()["pattern"] == f". seq {KISN + 1} ack {ISS + 1}"
