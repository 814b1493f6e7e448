"""A student sees their own experiment: what `lab check` shows of the program and writes
(--pcap, --html), a solution run directly against the testbed of `tcplab setup`, and sr()/expect()
that never take a segment captured before the send for its answer. Real namespaces, real kernel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tcplab.context import CONTEXT_ENV
from tcplab.netns.enter import inside, netns_inode
from tcplab.netns.record import TestbedSpec, find_record, lab_context
from tcplab.student import TESTBED_ENV, Lab
from tests.conftest import REPO, run_cli, unique_names

pytestmark = pytest.mark.netns

REFERENCE = REPO / "labs" / "handshake" / "solution.py"

WHERE_AM_I = """\
import os
print("before Lab()")
from scapy.layers.inet import IP, TCP
from tcplab.student import Lab

lab = Lab()
print("netns", os.stat("/proc/self/ns/net").st_ino)
synack = lab.sr(IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=1000))
print("answer", synack["TCP"].flags, synack["TCP"].ack)
"""

BROKEN = """\
from scapy.layers.inet import IP, TCP
from tcplab.student import Lab

lab = Lab()
print("sending my SYN")
synack = lab.sr(IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=1000))
ack = IP(dst="kernel-host") / TCP(sport=lab.sport, dport=lab.dport, flags="A")
"""


def own_state(tmp_path: Path) -> dict[str, str]:
    """The environment for a `lab check` whose count of attempts stays in the test's folder."""
    return dict(os.environ, TCPLAB_STATE_DIR=str(tmp_path / "state"))


def run_directly(
    script: Path, crafting: str, *prefix: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`python3 SCRIPT` in its folder, as a student would, with no lab context."""
    env = {k: v for k, v in os.environ.items() if k != CONTEXT_ENV}
    env.update({TESTBED_ENV: crafting, "PYTHONPATH": str(REPO)})
    return subprocess.run(
        [*prefix, sys.executable, script.name],
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_solution_run_directly_runs_again_inside_the_setup_testbed(lab: TestbedSpec, tmp_path):
    script = tmp_path / "where.py"
    script.write_text(WHERE_AM_I)
    out = run_directly(script, lab.crafting)
    assert out.returncode == 0, out.stderr
    assert f"running where.py again inside {lab.crafting}" in out.stderr
    assert "Traceback" not in out.stderr
    assert f"netns {netns_inode(lab.crafting)}\n" in out.stdout
    assert "answer SA 1001" in out.stdout  # the kernel host of this testbed answered
    assert out.stdout.count("before Lab()") == 2  # as the docstring says: run again from the top


def test_the_reference_run_directly_completes_its_handshake(lab: TestbedSpec, tmp_path):
    script = tmp_path / "handshake.py"
    shutil.copy(REFERENCE, script)
    out = run_directly(script, lab.crafting)
    assert out.returncode == 0, out.stderr
    assert "SYN+ACK: seq" in out.stdout


def test_a_solution_already_inside_the_namespace_is_not_run_again(lab: TestbedSpec, tmp_path):
    script = tmp_path / "where.py"
    script.write_text(WHERE_AM_I)
    out = run_directly(script, lab.crafting, "ip", "netns", "exec", lab.crafting)
    assert out.returncode == 0, out.stderr
    assert "again" not in out.stderr and out.stdout.count("before Lab()") == 1
    assert "answer SA 1001" in out.stdout


def test_without_a_testbed_it_names_the_command_to_run(tmp_path):
    script = tmp_path / "handshake.py"
    shutil.copy(REFERENCE, script)
    missing, _ = unique_names()  # a name never set up
    out = run_directly(script, missing)
    assert out.returncode == 3 and out.stdout == ""
    assert out.stderr.splitlines() == [
        f"error: no lab context, and no working testbed {missing} from 'tcplab setup' to run "
        "against",
        "hint: run 'sudo tcplab setup' first (or score it in a testbed of its own: sudo tcplab "
        "lab check handshake handshake.py)",
    ]


def test_without_root_it_names_the_command_to_run():
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    with tempfile.TemporaryDirectory(prefix="tcplab-test-") as folder:  # pytest's is root's only
        os.chmod(folder, 0o755)
        script = Path(folder) / "handshake.py"
        shutil.copy(REFERENCE, script)
        os.chmod(script, 0o644)
        out = run_directly(script, "ns1", *nobody)
    assert out.returncode == 3, out.stderr
    assert out.stderr.splitlines() == [
        "error: handshake.py needs root to send crafted segments",
        "hint: run it as root: sudo python3 handshake.py (or score it: sudo tcplab lab check "
        "handshake handshake.py)",
    ]


def test_sr_never_answers_with_a_segment_captured_before_its_send(lab: TestbedSpec):
    from scapy.layers.inet import IP, TCP

    rec = find_record(lab.crafting)
    assert rec is not None
    with inside(lab.crafting):
        student = Lab(lab_context(rec, "test", lab.port))
    syn = IP(src=student.src, dst=student.dst) / TCP(
        sport=student.sport, dport=student.dport, flags="S", seq=1000
    )  # src given: scapy's routes in this process are the host's
    synack = student.sr(syn)
    assert synack is not None and str(synack[TCP].flags) == "SA"
    time.sleep(1.5)  # no ACK yet: the kernel retransmits its SYN+ACK after 1 s
    assert student.expect(timeout=0.2, since=time.time()) is None
    ack = TCP(sport=student.sport, dport=student.dport, flags="A", seq=1001, ack=synack.seq + 1)
    sent = time.time()
    assert student.sr(ack, timeout=0.5) is None  # a right ACK has no answer
    earlier = student.pending()
    again = [p for p in earlier if str(p[TCP].flags) == "SA"]
    assert again and again[0][TCP].seq == synack[TCP].seq and again[0].time < sent
    assert student.pending() == []  # each handed out once


def test_expect_old_takes_an_earlier_unread_segment(lab: TestbedSpec):
    from scapy.layers.inet import IP, TCP

    rec = find_record(lab.crafting)
    assert rec is not None
    with inside(lab.crafting):
        student = Lab(lab_context(rec, "test", lab.port))
    syn = IP(src=student.src, dst=student.dst) / TCP(
        sport=student.sport, dport=student.dport, flags="S", seq=5000
    )
    first = student.sr(syn)
    assert first is not None
    time.sleep(1.3)
    probe = TCP(sport=student.sport + 1, dport=student.dport, flags="S", seq=1)
    other = student.sr(probe)  # another port's SYN: its own SYN+ACK, not the old one
    assert other is not None and other[TCP].dport == student.sport + 1
    old = student.expect(timeout=0.2, flags="SA", port=student.sport, old=True)
    assert old is not None and old[TCP].seq == first[TCP].seq and old.time < other.time


def test_lab_check_shows_the_output_and_writes_pcap_and_html(tmp_path):
    script = tmp_path / "handshake.py"
    script.write_text(BROKEN)
    pcap, html = tmp_path / "run.pcap", tmp_path / "run.html"
    out = run_cli(
        "lab", "check", "handshake", str(script), "--pcap", str(pcap), "--html", str(html)
    )
    assert out.returncode == 1, out.stderr
    text = out.stdout
    assert "your program printed:" in text and "│ sending my SYN" in text
    assert '│   File "handshake.py", line 7, in <module>' in text
    assert "frames in scapy" in text and "site-packages" not in text
    assert "your program stopped at handshake.py line 7: socket.gaierror" in text
    from scapy.layers.inet import TCP  # also binds IP and TCP under Ether
    from scapy.layers.l2 import Ether
    from scapy.utils import RawPcapReader

    frames = [Ether(data) for data, _ in RawPcapReader(str(pcap))]
    assert [str(f[TCP].flags) for f in frames[:2]] == ["S", "SA"]
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "handshake: The three-way handshake" in page
    assert "sending my SYN" in page and "runtime error" in page.lower()
    assert f'href="{pcap}"' in page


def test_lab_check_json_has_stdout_stderr_and_the_traceback(tmp_path):
    script = tmp_path / "handshake.py"
    script.write_text(BROKEN)
    out = run_cli("lab", "check", "handshake", str(script), "--json", env=own_state(tmp_path))
    data = json.loads(out.stdout)
    assert data["stdout"] == "sending my SYN" and data["exit_code"] == 1
    assert data["traceback"]["file"] == "handshake.py" and data["traceback"]["line"] == 7
    assert data["traceback"]["exception"].startswith("socket.gaierror")
    assert "frames in scapy" in data["stderr"]


def test_lab_check_shows_the_output_of_a_program_that_succeeds():
    out = run_cli("lab", "check", "handshake", "--reference")
    assert out.returncode == 0, out.stderr
    assert "your program printed:" in out.stdout and "│ SYN+ACK: seq" in out.stdout
    data = json.loads(run_cli("lab", "check", "handshake", "--reference", "--json").stdout)
    assert data["stdout"].startswith("SYN+ACK: seq") and "traceback" not in data
