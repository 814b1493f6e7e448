"""Malformed and forged segments against the real kernel, graded by `tcplab grade` and checked by
`tcplab lab check`: a malformed segment before a correct handshake costs nothing and is shown for
what it is; a fragmented SYN is reassembled by the kernel (also behind grading's port filter); a
SYN+ACK the student forges "from the kernel" is shown as forged and earns nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.netns

HEAD = """from scapy.all import IP, TCP, Raw, fragment
from tcplab.student import Lab

lab = Lab()
isn = 1000
"""
HANDSHAKE = """
syn = IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=isn)
synack = lab.sr(syn)
ack = synack[TCP].seq + 1
lab.send(IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="A", seq=isn + 1, ack=ack))
"""
STRAY = 'TCP(sport=lab.sport, dport=lab.dport, flags="A", seq=5, ack=7'
# each: the malformed segment sent first (on the student's own port), and the text shown for it
MALFORMED = {
    "mss-length-2": (f"IP(dst=lab.dst) / {STRAY}, options=[(2, b'')])", "MSS option of length 2"),
    "mss-length-0": (
        f"IP(dst=lab.dst) / {STRAY}, dataofs=6) / Raw(b'\\x02\\x00\\x00\\x00')",
        "MSS option of length 0 (Linux reads no further options)",
    ),
    "ns-flag": (
        "IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags=0x110, seq=5, ack=7)",
        "NS flag set (Linux ignores it)",
    ),
    "ip-fragment": (
        f"IP(dst=lab.dst, flags='MF', id=99) / {STRAY})",
        "IP fragment (the kernel waits for the rest)",
    ),
    "ip-options": (
        f"IP(dst=lab.dst, options=b'\\x01\\x01\\x01\\x00') / {STRAY})",
        "IP options (4 bytes)",
    ),
    "truncated-option": (
        f"IP(dst=lab.dst) / {STRAY}, dataofs=6) / Raw(b'\\x08\\x0a\\x00\\x00')",
        "timestamps option of length 10 cut short at 4 bytes",
    ),
    "data-offset-beyond": (
        f"IP(dst=lab.dst) / {STRAY}, dataofs=15)",
        "data offset 60 bytes, beyond the segment's 20",
    ),
}
FRAGMENTED_SYN = """
syn = IP(src=lab.src, dst=lab.dst, flags=0) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=isn)
for piece in fragment(syn, fragsize=8):
    lab.send(piece)
synack = lab.expect(flags="SA")
ack = synack[TCP].seq + 1
lab.send(IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="A", seq=isn + 1, ack=ack))
"""
MSS_ZERO = """
syn = IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=isn, options=[("MSS", 0)])
synack = lab.sr(syn)
ack = synack[TCP].seq + 1
lab.send(IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="A", seq=isn + 1, ack=ack))
lab.app_send("x" * 200)
lab.expect(flags="PA")
"""
FORGED = """
lab.send(IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=isn))
forged = TCP(sport=lab.dport, dport=lab.sport, flags="SA", seq=5000, ack=isn + 1)
lab.send(IP(src=lab.dst, dst=lab.src) / forged)  # "from the kernel", to itself
lab.send(IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="A", seq=isn + 1, ack=5001))
"""


def solutions() -> dict[str, str]:
    out = {name: HEAD + f"lab.send({bad})\n" + HANDSHAKE for name, (bad, _) in MALFORMED.items()}
    more = {"fragmented-syn": FRAGMENTED_SYN, "forged": FORGED, "mss-zero": MSS_ZERO}
    return {**out, **{name: HEAD + source for name, source in more.items()}}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("wire")
    subs, out = root / "subs", root / "out"
    for name, source in solutions().items():
        (subs / name).mkdir(parents=True)
        (subs / name / "handshake.py").write_text(source)
    proc = run_cli(
        "grade", str(subs), "--lab", "handshake", "--out", str(out), "-j", "2", timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((out / "grade.json").read_text())
    yield subs, {o["student"]: o for o in data["outcomes"]}


def crafted_rows(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    rows = outcome["ladder"]["ladder"]
    return [
        r for r in rows if r.get("kind", "segment") == "segment" and r.get("from") == "crafting"
    ]


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_segment_then_a_handshake_gets_full_marks_in_grading(
    graded: tuple[Path, dict[str, Any]], name: str
) -> None:
    _subs, outcomes = graded
    o = outcomes[name]
    assert (o["verdict"], o["score"]) == ("scored", o["max_score"]), o["message"]
    marked = [r for r in crafted_rows(o) if MALFORMED[name][1] in r.get("malformed", [])]
    assert marked, crafted_rows(o)


@pytest.mark.parametrize("name", ["ns-flag", "ip-fragment", "mss-length-2"])
def test_lab_check_gives_the_same_full_marks_and_shows_the_same(
    graded: tuple[Path, dict[str, Any]], name: str
) -> None:
    subs, _ = graded
    proc = run_cli(
        "lab", "check", "handshake", str(subs / name / "handshake.py"), "--json", timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["full_marks"], [c for c in result["checks"] if not c["ok"]]
    shown = [m for r in result["ladder"]["ladder"] for m in r.get("malformed", [])]
    assert MALFORMED[name][1] in shown


def test_a_fragmented_syn_is_reassembled_by_the_kernel_also_behind_the_port_filter(
    graded: tuple[Path, dict[str, Any]],
) -> None:
    _subs, outcomes = graded
    o = outcomes["fragmented-syn"]
    assert o["score"] == o["max_score"], o["message"] + o["stdout"]
    assert any("reassembled from 3 IP fragments" in r.get("malformed", []) for r in crafted_rows(o))


def test_a_forged_kernel_synack_is_shown_forged_and_earns_nothing(
    graded: tuple[Path, dict[str, Any]],
) -> None:
    _subs, outcomes = graded
    o = outcomes["forged"]
    assert o["score"] < o["max_score"]
    forged = [r for r in crafted_rows(o) if r.get("forged")]
    assert len(forged) == 1 and forged[0]["flags"] == "S." and forged[0]["delivered"] is False
    kernel = [r for r in o["ladder"]["ladder"] if r.get("from") == "kernel"]
    assert all(r["seq"] != 5000 for r in kernel)
    ack_check = next(c for c in o["checks"] if "acknowledges the kernel's SYN" in c["title"])
    assert not ack_check["ok"]


def test_a_syn_with_mss_0_then_data_is_graded_as_the_kernel_sends_it(
    graded: tuple[Path, dict[str, Any]],
) -> None:
    """Linux ignores <mss 0> (536 stands): 200 bytes go in one segment, and the model agrees
    (it once looped forever on this: the whole class stalled)."""
    _subs, outcomes = graded
    o = outcomes["mss-zero"]
    assert o["score"] == o["max_score"], o["message"]
    data = [r for r in o["ladder"]["ladder"] if r.get("from") == "kernel" and r.get("length")]
    assert data and {r["length"] for r in data} == {200}  # the data, maybe retransmitted
    assert all(r["prediction"]["agrees"] is True for r in data)


KERNEL_DECIDES = (
    HEAD
    + """
def syn(port, **ip):
    return IP(dst=lab.dst, **ip) / TCP(sport=port, dport=lab.dport, flags="S", seq=isn)
def tcp(port, flags="S", **kw):
    return IP(dst=lab.dst) / TCP(sport=port, dport=lab.dport, flags=flags, seq=isn, **kw)
P = lab.ports  # only our own ports reach the kernel (the port rule)
cases = [
    tcp(P[0], dataofs=2), tcp(P[1], dataofs=15), syn(P[2], options=b"\\x83\\x07\\x04" + bytes(5)),
    syn(P[3], options=b"\\x44\\x09\\x00\\x00"), syn(P[4], options=b"\\x01\\x01\\x01\\x00"),
    syn(P[5], chksum=0x1234), tcp(P[6], flags=0x102), tcp(P[7], options=[(2, b"")]),
    tcp(P[8], dataofs=6) / Raw(b"\\x02\\x00\\x00\\x00"), syn(P[9], flags="MF", id=4242),
    syn(P[10], flags="evil"), syn(P[11], len=30), tcp(P[12], dataofs=6) / Raw(b"\\x08\\x0a\\x00\\x00"),
]
for pkt in cases:
    lab.sr(pkt, timeout=0.3)
"""
)


def test_what_tcplab_calls_delivered_is_what_the_kernel_answers(tmp_path: Path) -> None:
    """Thirteen malformed SYNs, each on its own port: the kernel answers exactly those tcplab
    reads as delivered (and none is left out of the ladder)."""
    path = tmp_path / "handshake.py"
    path.write_text(KERNEL_DECIDES)
    proc = run_cli("lab", "check", "handshake", str(path), "--json", timeout=120)
    result = json.loads(proc.stdout)
    rows, case = result["ladder"]["ladder"], {p: i for i, p in enumerate(result["ports"], 1)}
    sent = {case[int(r["src"].split(":")[1])]: r for r in rows if r.get("from") == "crafting"}
    answered = {case[int(r["dst"].split(":")[1])] for r in rows if r.get("from") == "kernel"}
    assert sorted(sent) == list(range(1, 14))  # case n went out from the run's n-th port
    assert {n for n, r in sent.items() if r["delivered"]} == answered
    assert answered == {5, 7, 8, 9, 11, 13}
    assert all(r["malformed"] for n, r in sent.items() if n != 11)  # the evil bit: nothing to say
