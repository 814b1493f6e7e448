"""A crafted MSS option the kernel does not take as given (no root: the model).

Seen on 6.18 (a SYN with the option, the third ACK, then the application's send() of 200 bytes):
<mss 0> -> one segment of 200 (tcp_parse_options ignores a zero MSS: 536 stands); <mss 1> -> 48-byte
segments, 36 with timestamps; <mss 40> -> 48; <mss 60> -> 60; <mss 100> with timestamps -> 88
(__tcp_mtu_to_mss never goes below net.ipv4.tcp_min_snd_mss, 48, before the options are taken off).
Before, <mss 0> made the model's send() loop forever: a grader hung by one student's SYN.
"""

import pytest

from tcplab.model.segment import Option
from tests.unit.test_model_endpoint_send import KERNEL_MSS, established

TS_PEER = Option("TS", (1, 0))
TS_KERNEL = Option("TS", (5, 1))


@pytest.mark.parametrize(
    ("mss", "ts", "sizes"),
    [
        (0, False, [200]),
        (0, True, [200]),
        (1, False, [48, 48, 48, 48, 8]),
        (1, True, [36, 36, 36, 36, 36, 20]),
        (40, False, [48, 48, 48, 48, 8]),
        (60, False, [60, 60, 60, 20]),
        (100, True, [88, 88, 24]),
    ],
)
def test_the_kernel_sends_what_it_did_for_a_crafted_mss(
    mss: int, ts: bool, sizes: list[int]
) -> None:
    peer = [Option("mss", mss), *([TS_PEER] if ts else [])]
    ep = established(peer, [*KERNEL_MSS, *([TS_KERNEL] if ts else [])])
    assert [p.pattern.length for p in ep.send(200, 0.1)] == sizes
