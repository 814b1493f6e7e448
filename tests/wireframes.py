"""Frames a student could send, byte by byte, and the grader's whole parsing path to feed them to.

Shared by tests/unit/test_wire_fuzz.py (bounded Hypothesis runs) and bench/fuzz_bench.py (100 000
random frames): frame -> Seen (tcplab.engine.intake) -> Recording -> evaluate (observation, the
model's replay, the lab's checks, the ladder) -> the report's JSON and its rendered ladder.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tcplab.exercise.recording import Recording
from tcplab.model.endpoint import Sysctls
from tcplab.wire.capture import Frame
from tcplab.wire.decode import ones_sum

CRAFTING, KERNEL = "10.77.0.1", "10.77.0.2"
CRAFTING_MAC = bytes.fromhex("02746c000001")
KERNEL_MAC = bytes.fromhex("02746c000002")
SPORT, KPORT = 40000, 7788


def _addr(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


def tcp_bytes(
    flags: int = 0x02,
    seq: int = 1000,
    ack: int = 0,
    options: bytes = b"",
    payload: bytes = b"",
    sport: int = SPORT,
    dport: int = KPORT,
    doff: int | None = None,
    high: int = 0,  # the low 4 bits of byte 12: 3 reserved bits and NS
    src: str = CRAFTING,
    dst: str = KERNEL,
) -> bytes:
    """A TCP header and payload with a valid checksum (over these addresses)."""
    words = doff if doff is not None else 5 + (len(options) + 3) // 4
    opts = options + b"\x00" * (-len(options) % 4)
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (words << 4) | high, flags, 8192, 0, 0)
    tcp = head + opts + payload
    pseudo = _addr(src) + _addr(dst) + b"\x00\x06" + len(tcp).to_bytes(2, "big")
    csum = 0xFFFF - ones_sum(pseudo + tcp)
    return tcp[:16] + csum.to_bytes(2, "big") + tcp[18:]


def ip_frame(
    body: bytes,
    src: str = CRAFTING,
    dst: str = KERNEL,
    ident: int = 1,
    frag: int = 0x4000,  # DF; MF is 0x2000, the offset (in 8 bytes) the low 13 bits
    ip_options: bytes = b"",
    total: int | None = None,
    macs: tuple[bytes, bytes] = (KERNEL_MAC, CRAFTING_MAC),  # (destination, source)
) -> bytes:
    """An Ethernet frame with an IPv4 header (valid checksum) around `body`."""
    ihl = 5 + len(ip_options) // 4
    length = total if total is not None else ihl * 4 + len(body)
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, ident, frag, 64, 6, 0,
                       _addr(src), _addr(dst)) + ip_options  # fmt: skip
    csum = 0xFFFF - ones_sum(head)
    head = head[:10] + csum.to_bytes(2, "big") + head[12:]
    return macs[0] + macs[1] + b"\x08\x00" + head + body


def crafted(frame: bytes, t: float = 1.0) -> Frame:
    """A frame that came in from the crafting host."""
    return Frame(frame, t, False)


def from_kernel(frame: bytes, t: float = 1.0) -> Frame:
    """A frame the kernel host sent (PACKET_OUTGOING on its interface)."""
    return Frame(frame, t, True)


# ---- Hypothesis: frames of every shape -------------------------------------------------------

u8, u16, u32 = st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, (1 << 32) - 1)
option_bytes = st.lists(
    st.one_of(
        st.binary(max_size=12),  # anything
        st.tuples(st.sampled_from([2, 3, 4, 5, 8, 30, 34, 254]), st.integers(0, 44)).map(
            lambda kl: bytes([kl[0], kl[1]])  # a known kind with any length, cut short
        ),
        st.just(b"\x01"),
        st.just(b"\x00"),
    ),
    max_size=8,
).map(b"".join)
tcp_shapes = st.builds(
    tcp_bytes,
    flags=u8,
    seq=u32,
    ack=u32,
    options=option_bytes.map(lambda b: b[:40]),
    payload=st.binary(max_size=32),
    doff=st.one_of(st.none(), st.integers(0, 15)),
    high=st.integers(0, 15),
    src=st.sampled_from([CRAFTING, KERNEL]),
    dst=st.sampled_from([KERNEL, CRAFTING]),
)


@st.composite
def frames(draw: Any) -> bytes:
    """A frame: a crafted-looking one, maybe cut, maybe with any byte changed, maybe fragmented."""
    body = draw(tcp_shapes)
    src = draw(st.sampled_from([CRAFTING, KERNEL]))
    frag = draw(st.one_of(st.just(0x4000), u16))
    ip_opts = draw(st.one_of(st.just(b""), st.binary(min_size=4, max_size=40)))
    ip_opts = ip_opts[: len(ip_opts) // 4 * 4]
    total = draw(st.one_of(st.none(), u16))
    frame = bytearray(ip_frame(body, src=src, frag=frag, ip_options=ip_opts, total=total))
    for at, value in draw(st.lists(st.tuples(st.integers(0, 200), u8), max_size=3)):
        if 14 <= at < len(frame) and at not in (12, 13, 23):
            frame[at] = value
    cut = draw(st.one_of(st.none(), st.integers(14, len(frame))))
    return bytes(frame[:cut])


def random_frame(rnd: Any) -> bytes:
    """A frame from `random.Random`: Ethernet IPv4 TCP headers, the rest random (for the bench)."""
    ihl = rnd.choice([5, 5, 5, 6, rnd.randrange(16)])
    size = rnd.randrange(0, 80)
    ip = bytearray(rnd.randbytes(ihl * 4 if ihl >= 5 else 20))
    ip[0] = (rnd.choice([4, 4, 4, rnd.randrange(16)]) << 4) | ihl
    ip[9] = 6
    ip[12:20] = _addr(rnd.choice([CRAFTING, KERNEL])) + _addr(rnd.choice([KERNEL, CRAFTING]))
    if rnd.random() < 0.7:
        ip[2:4] = (len(ip) + size).to_bytes(2, "big")
    if rnd.random() < 0.6:
        ip[6:8] = rnd.choice([b"\x40\x00", b"\x00\x00", b"\x20\x00", rnd.randbytes(2)])
    tcp = bytearray(rnd.randbytes(size))
    if size >= 4 and rnd.random() < 0.8:
        tcp[0:4] = struct.pack("!HH", SPORT, KPORT)
    return KERNEL_MAC + CRAFTING_MAC + b"\x08\x00" + bytes(ip) + bytes(tcp)


# ---- the grader's whole parsing path --------------------------------------------------------


def recording(frames: list[Frame], lab: str = "handshake") -> Recording:
    """A recording of these frames on a lab (no samples, no application calls)."""
    from tcplab.exercise.catalog import get

    ports = sorted({get(lab).port, *(x.port for x in get(lab).listeners)})
    return Recording(
        lab=lab, kernel_addr=KERNEL, frames=frames, samples={}, listener=[], events=[],
        sysctls=Sysctls(), exit_code=0, timed_out=False, ports=ports,
    )  # fmt: skip


def whole_path(frames: list[Frame], lab: str = "handshake", render: bool = True) -> dict[str, Any]:
    """Frames through everything grading does with them; the result's JSON (checked to dump)."""
    return judged(recording(frames, lab), render)


def judged(rec: Recording, render: bool = True) -> dict[str, Any]:
    """A recording saved, loaded, judged by its lab, its result dumped and its ladder rendered."""
    from tcplab.cli.gradecmd import render_ladder
    from tcplab.exercise.catalog import get
    from tcplab.exercise.checker import result_of

    rec = Recording.from_json(json.loads(json.dumps(rec.to_json())))  # saved and loaded
    result = result_of(get(rec.lab), Path(f"{rec.lab}.py"), rec)
    data = result.to_json()
    json.dump(data, io.StringIO())
    if render:  # rich's wrapping costs ten times the rest: the bench renders a sample
        render_ladder(result.report.capped(f"{rec.lab}.pcap"))
    return data
