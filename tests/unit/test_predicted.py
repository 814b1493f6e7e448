"""The runner's record of one prediction: which kernel segment it explains, and the finding text."""

from tcplab.engine.check import fact
from tcplab.engine.predicted import Predicted
from tcplab.model.endpoint import Endpoint
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.table import Place

S, A, R = Flags.SYN, Flags.ACK, Flags.RST


def _established() -> Endpoint:
    return Endpoint(
        place=Place.ESTABLISHED, iss=5000, irs=1000, snd_una=5001, snd_nxt=5001, rcv_nxt=1001
    )


def test_a_challenge_ack_matches_only_its_exact_numbers():
    ep = _established()
    pred = ep.receive(Segment(40000, 7788, R, seq=1100), 0.0)
    rec = Predicted(pred, "line 9: send", 0.0, crafted=True)
    assert rec.matches(Segment(7788, 40000, A, seq=5001, ack=1001))
    assert not rec.matches(Segment(7788, 40000, A, seq=5001, ack=1002))
    assert not rec.matches(Segment(7788, 40000, R, seq=5001))


def test_a_predicted_silence_matches_no_segment_and_says_so_in_the_finding():
    ep = _established()
    pred = ep.receive(Segment(40000, 7788, R, seq=900), 0.0)  # out of the window: dropped
    rec = Predicted(pred, "line 12: send", 0.0, crafted=True)
    assert rec.silence and not rec.matches(Segment(7788, 40000, A, seq=5001, ack=1001))
    rec.decide(False, ". 1:1(0) ack 1")
    text = rec.finding()
    assert text.startswith("tcplab's model predicted no segment after line 12: send (rule ")
    assert "RFC RFC" not in text and text.endswith("the kernel did . 1:1(0) ack 1")


def test_a_check_carries_the_prediction_object_in_json_only_when_it_has_one():
    ep = _established()
    rec = Predicted(ep.receive(Segment(40000, 7788, R, seq=1100), 0.0), "line 9: send", 0.0)
    rec.decide(True, ". 1:1(0) ack 1")
    plain = fact(name="n", ok=True, expected="x", observed="x", why="w").to_json()
    assert "prediction" not in plain
    got = fact(name="n", ok=True, expected="x", observed="x", why="w", prediction=rec).to_json()
    assert set(plain) < set(got)
    p = got["prediction"]
    assert (p["pattern"], p["cause"], p["agrees"]) == (". seq 5001 ack 1001", "line 9: send", True)
    assert p["rule"].startswith("rst-in-window")
