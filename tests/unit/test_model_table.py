"""The one table: total (every place x input has exactly one row), cases ordered, diagram derived."""

from hypothesis import given
from hypothesis import strategies as st

from tcplab.model.flags import Flags
from tcplab.model.state import State
from tcplab.model.table import ROWS, Guard, Input, Place, case_for, edges, lookup, rows_for


@given(st.sampled_from(Place), st.sampled_from(Input))
def test_every_place_and_input_has_exactly_one_row(place, inp):
    assert len(rows_for(place, inp)) == 1


def test_table_size():
    pairs = len(Place) * len(Input)
    assert pairs == 13 * 34 == sum(len(r.places) * len(r.inputs) for r in ROWS)


def test_every_row_ends_with_an_unconditional_case_and_guards_are_not_repeated():
    for row in ROWS:
        guards = [c.guard for c in row.cases]
        assert guards[-1] is Guard.ALWAYS and Guard.ALWAYS not in guards[:-1]
        assert len(set(guards)) == len(guards)


def test_a_rst_is_answered_by_nothing_but_a_challenge_ack():
    for row in ROWS:
        if any(i.is_rst for i in row.inputs):
            for case in row.cases:
                assert case.reply is None or case.rule.startswith("rst-in-window"), case


def test_every_place_maps_to_one_of_the_eleven_states():
    assert {p.state for p in Place} == set(State)


def test_rule_ids_are_stable_strings():
    for row in ROWS:
        for case in row.cases:
            assert case.rule and case.rule == case.rule.strip().lower()


def test_guards_select_linux_behaviour():
    syn = lookup(Place.LISTEN, Input.SYN_NEW)
    assert case_for(syn, frozenset()).rule == "listen-syn"
    assert case_for(syn, frozenset({Guard.SYN_QUEUE_FULL_DROP})).reply is None
    assert case_for(syn, frozenset({Guard.COOKIES})).next is None  # no request sock
    rst = lookup(Place.TIME_WAIT, Input.RST_EXACT)
    assert case_for(rst, frozenset({Guard.RFC1337})).next is None
    assert case_for(rst, frozenset()).next is Place.NO_SOCKET


def test_the_diagram_has_the_rfc_arrows():
    arrows = {(e.source, e.target, e.sends) for e in edges()}
    for arrow in [
        (State.CLOSED, State.SYN_SENT, Flags.SYN),
        (State.LISTEN, State.SYN_RECEIVED, Flags.SYN | Flags.ACK),
        (State.SYN_SENT, State.ESTABLISHED, Flags.ACK),
        (State.SYN_RECEIVED, State.ESTABLISHED, None),
        (State.ESTABLISHED, State.FIN_WAIT_1, Flags.FIN | Flags.ACK),
        (State.ESTABLISHED, State.CLOSE_WAIT, Flags.ACK),
        (State.FIN_WAIT_1, State.FIN_WAIT_2, None),
        (State.FIN_WAIT_1, State.CLOSING, Flags.ACK),
        (State.FIN_WAIT_2, State.TIME_WAIT, Flags.ACK),
        (State.CLOSE_WAIT, State.LAST_ACK, Flags.FIN | Flags.ACK),
        (State.LAST_ACK, State.CLOSED, None),
        (State.CLOSING, State.TIME_WAIT, None),
        (State.TIME_WAIT, State.CLOSED, None),
    ]:
        assert arrow in arrows, arrow


RULE_IDS = {case.rule for row in ROWS for case in row.cases}
_flags = st.sets(st.sampled_from("FSRPA")).map(lambda s: Flags.from_letters("".join(s)))
_u32 = st.integers(0, (1 << 32) - 1)


@given(st.one_of(st.none(), st.sampled_from(State)), _flags, _u32, _u32, st.binary(max_size=3))
def test_the_endpoint_answers_from_this_table_only(state, flags, seq, ack, payload):
    from tcplab.model.endpoint import Endpoint
    from tcplab.model.segment import Segment

    ep = Endpoint.seen(state, snd_nxt=5000, rcv_nxt=9000, rcv_wnd=64240)
    pred = ep.receive(Segment(1, 2, flags, seq=seq, ack=ack, payload=payload), 0.0)
    assert pred.rule in RULE_IDS
    assert {e.rule for e in edges()} <= RULE_IDS
