"""The sans-IO endpoint on the Linux behaviours of ../shared/LINUX-TCP.md (no root: the model alone).

Each test feeds the exchange a scenario recorded on this machine's kernel and checks the prediction
the kernel's answer was compared with: its pattern (or silence), its rule id and the place after.
"""

from tcplab.model.endpoint import Endpoint, Sysctls
from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment
from tcplab.model.table import Input, Place

F = Flags.from_letters
PEER_ISN, KERNEL_ISN = 1000, 5000


def seg(flags, seq=PEER_ISN + 1, ack=KERNEL_ISN + 1, payload=b"", window=64240, options=()):
    return Segment(
        40000, 7788, F(flags), seq=seq, ack=ack, payload=payload, window=window, options=options
    )


def synack(seq=KERNEL_ISN, ack=PEER_ISN + 1, window=64240):
    return Segment(
        7788, 40000, F("SA"), seq=seq, ack=ack, window=window, options=(Option("wscale", 7),)
    )


def listener(**kw) -> Endpoint:
    ep = Endpoint(**kw)
    assert ep.call(Input.APP_LISTEN, 0.0).silence
    return ep


def server(**kw) -> Endpoint:
    """A listener whose connection completed the handshake: the kernel advertised 64240, wscale 7."""
    ep = listener(**kw)
    p = ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    assert p.rule == "listen-syn" and p.pattern.ack == PEER_ISN + 1 and ep.place is Place.REQUEST
    ep.observe(synack())
    p = ep.receive(seg("A"), 0.001)
    assert p.rule == "request-ack" and p.silence and ep.place is Place.ESTABLISHED
    return ep


def test_a_second_syn_within_half_a_second_gets_no_challenge_ack():
    ep = server()
    first = ep.receive(seg("S", seq=77, ack=0), 1.0)
    assert first.rule == "syn-challenge-ack"
    assert (first.pattern.flags, first.pattern.seq, first.pattern.ack) == (Flags.ACK, 5001, 1001)
    second = ep.receive(seg("S", seq=78, ack=0), 1.3)
    assert second.silence and second.rule == "syn-challenge-ack-rate-limited"
    assert ep.receive(seg("S", seq=79, ack=0), 1.6).rule == "syn-challenge-ack"


def test_data_is_always_answered_even_within_the_rate_limit():
    ep = server()
    ep.receive(seg("S", seq=77, ack=0), 1.0)
    p = ep.receive(seg("PA", seq=PEER_ISN - 100, payload=b"old"), 1.1)
    assert p.rule == "dup-ack-data" and p.pattern.ack == PEER_ISN + 1


def test_syn_beyond_a_full_syn_queue_with_cookies_off_is_dropped():
    ep = listener(sysctls=Sysctls(tcp_syncookies=0), backlog=1, syn_queue=2)
    p = ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    assert p.silence and p.rule == "listen-syn-queue-full" and ep.place is Place.LISTEN


def test_cookie_syn_ack_then_its_ack_builds_an_established_socket():
    ep = listener(backlog=1, syn_queue=2)
    p = ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    assert p.rule == "listen-syn-cookie" and ep.place is Place.LISTEN and ep.deadline is None
    ep.observe(synack(seq=424242))
    p = ep.receive(seg("A", ack=424243), 0.5)
    assert p.rule == "listen-cookie-ack" and ep.place is Place.ESTABLISHED
    assert (ep.iss, ep.rcv_nxt) == (424242, PEER_ISN + 1)


def test_a_cookie_ack_is_judged_against_the_numbers_the_cookie_encodes():
    """The listener keeps no rcv_nxt for a cookie: what the ACK's seq must be comes back from
    the cookie SYN+ACK's own ack (the peer's ISN + 1), so a wrong seq can be named."""
    ep = listener(backlog=1, syn_queue=2)
    ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    ep.observe(synack(seq=424242))
    p = ep.receive(seg("A", seq=PEER_ISN, ack=424243), 0.5)
    assert p.before is not None
    assert (p.before.rcv_nxt, p.before.snd_nxt) == (PEER_ISN + 1, 424243)


def test_a_stray_ack_at_a_listener_is_reset_with_its_ack():
    p = listener().receive(seg("A", ack=31337), 0.0)
    assert p.rule == "listen-ack" and (p.pattern.flags, p.pattern.seq) == (Flags.RST, 31337)


def test_rst_at_the_sack_right_edge_resets():
    ep = server()
    p = ep.receive(seg("PA", seq=PEER_ISN + 101, payload=b"x" * 10), 1.0)
    assert p.rule == "out-of-order" and p.pattern.ack == PEER_ISN + 1
    ep.observe(Segment(7788, 40000, F("A"), 5001, 1001, 501, (Option("sack", ((1101, 1111),)),)))
    p = ep.receive(seg("R", seq=1111, ack=0), 1.1)
    assert p.rule == "rst-sack-edge" and p.silence and ep.place is Place.NO_SOCKET


def test_syn_while_the_accept_queue_is_full_is_dropped():
    ep = listener(backlog=1, accept_queue=2)
    p = ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    assert p.silence and p.rule == "listen-syn-accept-queue-full"


def test_the_window_is_the_one_the_kernel_advertised_not_65535():
    ep = server()
    p = ep.receive(seg("R", seq=PEER_ISN + 1 + 65000, ack=0), 1.0)
    assert p.silence and p.rule == "rst-out-of-window"
    p = ep.receive(seg("R", seq=PEER_ISN + 1 + 64000, ack=0), 2.0)
    assert p.rule == "rst-in-window" and p.pattern.seq == 5001


def test_ack_dropped_on_a_full_accept_queue_is_explained_as_such_and_synack_resent():
    ep = listener(backlog=1)
    ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    ep.observe(synack())
    ep.accept_queue = 2  # two completed connections nobody accepted
    p = ep.receive(seg("A"), 0.2)
    assert p.silence and p.rule == "request-ack-accept-queue-full" and ep.place is Place.REQUEST
    t = ep.fire(1.0)
    assert t.rule == "request-synack-retransmit" and t.cause.startswith("timer")
    assert (t.pattern.flags, t.pattern.seq, t.pattern.ack) == (Flags.SYN | Flags.ACK, 5000, 1001)


def test_synack_schedule_1_3_7_15_31_then_the_request_is_dropped():
    ep = listener()
    ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    ep.observe(synack())
    times = []
    while ep.place is Place.REQUEST:
        due = ep.deadline
        p = ep.fire(due)
        times.append((due, p.rule))
    assert times == [(t, "request-synack-retransmit") for t in (1, 3, 7, 15, 31)] + [
        (63, "request-expired")
    ]
    assert ep.place is Place.LISTEN


def test_syn_schedule_with_linear_timeouts():
    ep = Endpoint()
    p = ep.call(Input.APP_CONNECT, 0.0)
    assert p.rule == "connect-syn" and ep.place is Place.SYN_SENT
    ep.observe(Segment(40000, 7788, F("S"), seq=KERNEL_ISN, window=64240))
    sent = []
    while ep.place is Place.SYN_SENT:
        due = ep.deadline
        p = ep.fire(due)
        if p.rule == "syn-retransmit":
            sent.append(due)
            assert p.pattern.seq == KERNEL_ISN
    # tcp_syn_retries 6 + 4 linear: ten retransmissions, then the timer at 131 s gives up (the
    # time limit, tcp_model_timeout(6) = 127 s, is never what ends it with these defaults)
    assert sent == [1, 2, 3, 4, 5, 7, 11, 19, 35, 67]
    assert p.rule == "syn-sent-timed-out" and due == 131


def test_client_handshake_and_a_bad_syn_ack():
    ep = Endpoint()
    ep.call(Input.APP_CONNECT, 0.0)
    ep.observe(Segment(40000, 7788, F("S"), seq=KERNEL_ISN, window=64240))
    bad = ep.receive(seg("SA", seq=PEER_ISN, ack=999), 0.1)
    assert bad.rule == "syn-sent-bad-ack" and bad.pattern.seq == 999 and ep.place is Place.SYN_SENT
    good = ep.receive(seg("SA", seq=PEER_ISN, ack=KERNEL_ISN + 1), 0.2)
    assert good.rule == "syn-sent-syn-ack" and ep.place is Place.ESTABLISHED
    assert (good.pattern.seq, good.pattern.ack) == (KERNEL_ISN + 1, PEER_ISN + 1)


def test_passive_close_delayed_ack_then_rst_at_rcv_nxt_less_1():
    ep = server()
    p = ep.receive(seg("FA"), 1.0)
    assert p.rule == "fin" and p.delayed and p.pattern.ack == PEER_ISN + 2
    assert ep.place is Place.CLOSE_WAIT
    p = ep.receive(seg("R", seq=PEER_ISN + 1, ack=0), 2.0)
    assert p.rule == "rst-before-fin" and ep.place is Place.NO_SOCKET


def test_close_with_unread_data_sends_rst():
    ep = server()
    ep.receive(seg("PA", payload=b"hello"), 1.0)
    p = ep.call(Input.APP_CLOSE, 2.0)
    assert p.rule == "close-unread-rst" and (p.pattern.flags, p.pattern.seq, p.pattern.ack) == (
        Flags.RST | Flags.ACK,
        5001,
        1006,
    )
    assert ep.place is Place.NO_SOCKET


def active_close_to_time_wait(ep: Endpoint, now: float = 1.0) -> None:
    p = ep.call(Input.APP_CLOSE, now)
    assert p.rule == "close-fin" and p.pattern.seq == 5001 and ep.place is Place.FIN_WAIT_1
    assert ep.receive(seg("A", ack=5002), now).place is Place.ORPHAN_FIN_WAIT_2
    p = ep.receive(seg("FA", ack=5002), now)
    assert p.rule == "orphan-fin" and ep.place is Place.TIME_WAIT


def test_time_wait_fin_retransmission_is_acked_and_restarts_60_s():
    ep = server()
    active_close_to_time_wait(ep)
    assert ep.deadline == 61.0
    p = ep.receive(seg("FA", ack=5002), 30.0)
    assert p.rule == "time-wait-ack" and (p.pattern.seq, p.pattern.ack) == (5002, 1002)
    assert ep.deadline == 90.0
    assert ep.fire(89.0) is None
    assert ep.fire(90.0).rule == "mini-expired" and ep.place is Place.NO_SOCKET


def test_time_wait_rst_with_and_without_rfc1337():
    ep = server()
    active_close_to_time_wait(ep)
    assert ep.receive(seg("R", seq=1002, ack=0), 2.0).place is Place.NO_SOCKET
    ep = server(sysctls=Sysctls(tcp_rfc1337=1))
    active_close_to_time_wait(ep)
    p = ep.receive(seg("R", seq=1002, ack=0), 2.0)
    assert p.rule == "time-wait-rst-rfc1337" and ep.place is Place.TIME_WAIT


def test_a_syn_above_rcv_nxt_reopens_time_wait_with_isn_plus_65537():
    ep = server()
    active_close_to_time_wait(ep)
    p = ep.receive(seg("S", seq=9000, ack=0), 3.0)
    assert p.rule == "time-wait-reopen" and p.pattern.seq == 5002 + 65537
    assert ep.place is Place.REQUEST and ep.snd_nxt == 5002 + 65538


def test_orphan_fin_wait_2_lasts_tcp_fin_timeout():
    ep = server(sysctls=Sysctls(tcp_fin_timeout=30))
    ep.call(Input.APP_CLOSE, 1.0)
    ep.receive(seg("A", ack=5002), 1.0)
    assert ep.place is Place.ORPHAN_FIN_WAIT_2 and ep.deadline == 31.0
    assert ep.fire(31.0).rule == "mini-expired"


def test_shutdown_leaves_a_fin_wait_2_without_timer_that_still_acks_data():
    ep = server()
    ep.call(Input.APP_SHUTDOWN, 1.0)
    ep.receive(seg("A", ack=5002), 1.0)
    assert ep.place is Place.FIN_WAIT_2 and ep.deadline is None
    p = ep.receive(seg("PA", ack=5002, payload=b"abc"), 2.0)
    assert p.rule == "data-ack" and p.pattern.ack == 1004


def test_closed_port_answers():
    ep = Endpoint()
    p = ep.receive(seg("S", seq=100, ack=0), 0.0)
    assert (p.rule, p.pattern.flags, p.pattern.seq, p.pattern.ack) == (
        "closed-no-ack",
        Flags.RST | Flags.ACK,
        0,
        101,
    )
    assert ep.receive(seg("R"), 0.0).silence


def test_no_ack_in_a_synchronized_state_is_dropped():
    p = server().receive(seg("F"), 1.0)
    assert p.silence and p.rule == "no-ack-dropped"


def test_prediction_text_and_json():
    ep = server()
    p = ep.receive(seg("S", seq=77, ack=0), 1.0)
    assert p.text() == ". seq 5001 ack 1001"
    data = p.to_json()
    assert data["pattern"] == ". seq 5001 ack 1001" and data["rule"] == "syn-challenge-ack"
    assert data["cause"] == "segment" and data["place"] == "ESTABLISHED"
    assert ep.receive(seg("S", seq=78, ack=0), 1.1).to_json()["pattern"] is None
    fresh = listener().receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    assert fresh.text() == "S. seq * ack 1001"


def test_a_syn_into_time_wait_reopens_by_timestamp_not_by_seq():
    ts = (Option("TS", (500, 0)),)
    ep = listener()
    ep.receive(seg("S", seq=PEER_ISN, ack=0, options=ts), 0.0)
    ep.observe(synack())
    ep.receive(seg("A"), 0.0)
    active_close_to_time_wait(ep)
    older = ep.receive(seg("S", seq=9000, ack=0, options=(Option("TS", (400, 0)),)), 2.0)
    assert (
        older.rule == "time-wait-ack" and ep.place is Place.TIME_WAIT
    )  # PAWS: seq alone not enough
    newer = ep.receive(seg("S", seq=10, ack=0, options=(Option("TS", (600, 0)),)), 3.0)
    assert newer.rule == "time-wait-reopen" and ep.place is Place.REQUEST


def test_a_syn_into_time_wait_without_a_listener_gets_the_time_wait_ack():
    ep = server()
    active_close_to_time_wait(ep)
    ep.listener = False
    p = ep.receive(seg("S", seq=9000, ack=0), 3.0)
    assert p.rule == "time-wait-ack" and (p.pattern.seq, p.pattern.ack) == (5002, 1002)


def test_from_kept_mirrors_the_crafting_sides_numbers():
    from tcplab.model.kept import KeptConnection

    ep = Endpoint.from_kept(
        KeptConnection(iss=1000, kisn=5000, snd_nxt=1001, rcv_nxt=5001, window=64240)
    )
    assert (ep.place, ep.snd_nxt, ep.rcv_nxt, ep.rcv_wnd) == (Place.ESTABLISHED, 5001, 1001, 64240)
    p = ep.receive(seg("R", seq=1002, ack=0), 0.0)
    assert p.rule == "rst-in-window" and (p.pattern.seq, p.pattern.ack) == (5001, 1001)


def test_seen_places_each_state():
    from tcplab.model.state import State

    assert Endpoint.seen(None).place is Place.NO_SOCKET
    assert Endpoint.seen(State.SYN_RECEIVED).place is Place.REQUEST
    assert Endpoint.seen(State.FIN_WAIT_2, orphan=True).place is Place.ORPHAN_FIN_WAIT_2
    assert Endpoint.seen(State.TIME_WAIT).place is Place.TIME_WAIT
    ep = Endpoint.seen(State.LISTEN)
    assert ep.listener and ep.receive(seg("S", seq=1, ack=0), 0.0).rule == "listen-syn"


def test_close_after_reading_sends_fin_and_shutdown_with_unread_data_too():
    ep = server()
    ep.receive(seg("PA", payload=b"hello"), 1.0)
    ep.read()
    assert ep.call(Input.APP_CLOSE, 2.0).rule == "close-fin"
    ep = server()
    ep.receive(seg("PA", payload=b"hello"), 1.0)
    p = ep.call(Input.APP_SHUTDOWN, 2.0)
    assert p.rule == "close-fin" and ep.place is Place.FIN_WAIT_1 and not ep.orphan


def test_so_linger_0_aborts_with_rst():
    ep = server()
    p = ep.call(Input.APP_ABORT, 2.0)
    assert p.rule == "abort-rst" and (p.pattern.seq, p.pattern.ack) == (5001, 1001)


def test_an_answered_data_segment_does_not_start_the_rate_limit():
    ep = server()
    assert ep.receive(seg("PA", seq=PEER_ISN - 100, payload=b"old"), 1.0).rule == "dup-ack-data"
    assert ep.receive(seg("S", seq=77, ack=0), 1.1).rule == "syn-challenge-ack"


# ---- recorded by scenarios/linux-*-segments.toml on kernel 6.18 ----


def test_an_ack_of_unsent_data_gets_a_challenge_ack_rate_limited_even_with_data():
    """linux-established-segments: `. ack 1000` -> `. 1:1 ack 1`; `P. 1:6 ack 1000` 3 ms later -> none."""
    ep = server()
    p = ep.receive(seg("A", ack=KERNEL_ISN + 1000), 1.0)
    assert p.rule == "ack-unsent" and (p.pattern.seq, p.pattern.ack) == (5001, 1001)
    p = ep.receive(seg("PA", ack=KERNEL_ISN + 1000, payload=b"hello"), 1.003)
    assert p.silence and p.rule == "ack-unsent-rate-limited" and ep.rcv_nxt == PEER_ISN + 1
    assert ep.receive(seg("PA", ack=KERNEL_ISN + 1000, payload=b"hello"), 1.6).rule == "ack-unsent"


def test_a_full_socket_checks_the_seq_before_the_ack():
    """tcp_validate_incoming runs before tcp_ack: a segment outside the window is answered as
    such (a duplicate ACK) whatever its ack, even an ack of data never sent."""
    ep = server()
    far = seg("A", seq=PEER_ISN + 1 + (1 << 31), ack=KERNEL_ISN + 1000)  # both wrong
    p = ep.receive(far, 1.0)
    assert p.rule == "dup-ack" and (p.pattern.seq, p.pattern.ack) == (KERNEL_ISN + 1, PEER_ISN + 1)
    # in the window, the same ack is an ACK of data never sent
    assert ep.receive(seg("A", ack=KERNEL_ISN + 1000), 2.0).rule == "ack-unsent"


def test_data_filling_a_hole_is_acked_with_the_queued_data_too():
    """linux-established-segments: `P. 101:106` -> `. ack 1`; `P. 1:101` -> `. ack 106`."""
    ep = server()
    p = ep.receive(seg("PA", seq=PEER_ISN + 101, payload=b"x" * 5), 1.0)
    assert p.rule == "out-of-order" and p.pattern.ack == PEER_ISN + 1
    p = ep.receive(seg("PA", payload=b"x" * 100), 1.01)
    assert p.rule == "data-ack" and p.pattern.ack == PEER_ISN + 106
    assert ep.rcv_nxt == PEER_ISN + 106 and ep.unread == 105 and not ep.queued


def test_a_retransmitted_fin_in_close_wait_is_acked_at_once():
    """linux-close-wait-segments: `F. 1:1 ack 1` twice -> `. ack 2` twice; then data -> none."""
    ep = server()
    ep.receive(seg("FA"), 1.0)
    p = ep.receive(seg("FA"), 1.1)
    assert p.rule == "dup-ack-data" and p.pattern.ack == PEER_ISN + 2 and not p.delayed
    assert ep.place is Place.CLOSE_WAIT
    p = ep.receive(seg("PA", seq=PEER_ISN + 2, payload=b"x" * 5), 1.2)
    assert p.silence and p.rule == "data-after-fin"


def test_old_data_already_received_is_a_duplicate_not_out_of_order():
    ep = server()
    ep.receive(seg("PA", payload=b"hello"), 1.0)
    p = ep.receive(seg("PA", payload=b"hello"), 1.1)
    assert p.rule == "dup-ack-data" and p.pattern.ack == PEER_ISN + 6 and not ep.queued


def _overflowing(**kw) -> Endpoint:
    """A listen(1) request sock whose SYN+ACK went out while two completed connections wait in
    the accept queue (nobody accept()ed them): the queue is full, its length exceeds the backlog."""
    ep = listener(backlog=1, **kw)
    ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    ep.observe(synack())
    ep.accept_queue = 2
    return ep


def test_abort_on_overflow_answers_the_third_ack_with_rst_and_drops_the_request():
    ep = _overflowing(sysctls=Sysctls(tcp_abort_on_overflow=1))
    p = ep.receive(seg("A"), 0.2)
    assert p.rule == "request-ack-accept-queue-abort" and ep.place is Place.LISTEN
    assert (p.pattern.flags, p.pattern.seq) == (Flags.RST, KERNEL_ISN + 1)
    assert ep.syn_queue == 0 and ep.accept_queue == 2
    assert ep.fire(1.0) is None  # no request left: no SYN+ACK again


def test_abort_on_overflow_resets_a_third_segment_with_data_too():
    ep = _overflowing(sysctls=Sysctls(tcp_abort_on_overflow=1))
    p = ep.receive(seg("PA", payload=b"hi"), 0.2)
    assert p.rule == "request-ack-accept-queue-abort" and p.pattern.flags == Flags.RST


def test_abort_on_overflow_changes_nothing_while_the_accept_queue_has_room():
    ep = _overflowing(sysctls=Sysctls(tcp_abort_on_overflow=1))
    ep.accept_queue = 1  # one accept()ed: listen(1) holds two
    p = ep.receive(seg("A"), 0.2)
    assert p.rule == "request-ack" and p.silence and ep.place is Place.ESTABLISHED
    assert ep.accept_queue == 2


def test_without_abort_on_overflow_the_retried_ack_completes_once_one_is_accepted():
    ep = _overflowing()
    assert ep.receive(seg("A"), 0.2).rule == "request-ack-accept-queue-full"
    assert ep.fire(1.0).rule == "request-synack-retransmit"
    assert ep.receive(seg("A"), 1.01).rule == "request-ack-accept-queue-full"
    ep.accept_queue = 1
    p = ep.receive(seg("A"), 1.5)
    assert p.rule == "request-ack" and ep.place is Place.ESTABLISHED


def test_a_repeated_syn_restarts_the_requests_synack_timer():
    """Measured on 6.18: SYN at 0, the same SYN again at 0.614 -> SYN+ACKs at 0.614, 1.633 (not
    1.0), 3.649; the same SYN at 1.534 after the timer ran once -> SYN+ACKs at 1.534, 3.558."""
    ep = listener()
    ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.0)
    ep.observe(synack())
    p = ep.receive(seg("S", seq=PEER_ISN, ack=0), 0.6)
    assert p.rule == "request-syn-again" and p.pattern.seq == KERNEL_ISN
    assert ep.deadline == 0.6 + 1.0
    assert ep.fire(ep.deadline).rule == "request-synack-retransmit"
    assert ep.deadline == 1.6 + 2.0
    p = ep.receive(seg("S", seq=PEER_ISN, ack=0), 2.0)
    assert p.rule == "request-syn-again" and ep.deadline == 2.0 + 2.0
