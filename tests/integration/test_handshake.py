"""The manual handshake and single segments against the real kernel, checked as a user would."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tcplab.cli import main
from tcplab.engine import handshake
from tcplab.engine.target import Target
from tcplab.netns.record import TestbedSpec
from tests.conftest import remove_testbed, run_cli, unique_names

pytestmark = pytest.mark.netns
MOD = 1 << 32


def segments(report: dict) -> list[dict]:
    return [row for row in report["ladder"] if row["kind"] == "segment"]


def transitions(report: dict, side: str) -> list[tuple[str, str]]:
    return [
        (r["from"], r["to"]) for r in report["ladder"] if r["kind"] == "state" and r["side"] == side
    ]


def test_handshake_is_seen_by_an_independent_tcpdump_in_the_kernel_host(lab: TestbedSpec, tmp_path):
    pcap = tmp_path / "own.pcap"
    dump = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            lab.kernel,
            "tcpdump",
            "--immediate-mode",
            "-Z",
            "root",
            "-i",
            "tcplab0",
            "-nn",
            "-U",
            "-w",
            str(pcap),
            "tcp",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)  # tcpdump needs a moment before it captures
        out = run_cli(
            "handshake", "--target", f"{lab.kernel}:7788", "--isn", "4294967290", "--json"
        )
        time.sleep(0.2)
    finally:
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    kisn = report["kernel_isn"]
    text = subprocess.run(
        ["tcpdump", "-nn", "-S", "-r", str(pcap)], capture_output=True, text=True
    ).stdout.splitlines()
    assert "Flags [S]," in text[0] and "seq 4294967290," in text[0]
    assert "Flags [S.]," in text[1] and f"seq {kisn}," in text[1] and "ack 4294967291," in text[1]
    assert "Flags [.]," in text[2] and f"ack {(kisn + 1) % MOD}," in text[2]


def test_handshake_shows_each_side_and_checks_every_reply(lab: TestbedSpec, tmp_path):
    pcap = tmp_path / "hs.pcap"
    out = run_cli("handshake", "--target", f"{lab.kernel}:7788", "--json", "--pcap", str(pcap))
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["ok"]
    segs = segments(report)
    assert [s["flags"] for s in segs[:3]] == ["S", "S.", "."]
    assert segs[1]["ack"] == (report["crafting_isn"] + 1) % MOD and segs[1]["rel_ack"] == 1
    assert segs[2]["ack"] == (report["kernel_isn"] + 1) % MOD
    assert all(s["checksum_ok"] for s in segs)
    assert transitions(report, "crafting") == [("CLOSED", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED")]
    assert transitions(report, "kernel") == [
        ("no socket", "LISTEN"),
        ("LISTEN", "SYN_RECEIVED"),
        ("SYN_RECEIVED", "ESTABLISHED"),
    ]
    names = [c["name"] for c in report["checks"]]
    assert "the application accepted the connection" in names
    assert "the kernel's socket is ESTABLISHED after the ACK" in names
    assert report["info"]["kernel_mss"] == 1460 and report["info"]["kernel_wscale"] is not None
    dump = subprocess.run(["tcpdump", "-nn", "-r", str(pcap)], capture_output=True, text=True)
    assert dump.returncode == 0 and dump.stdout.count("IP 10.77.0.") >= 3


def test_handshake_text_output_is_a_ladder_with_states_and_checks(lab: TestbedSpec):
    out = run_cli(
        "handshake", "--target", f"{lab.kernel}:7788", "--sport", "40000", "--isn", "1000"
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for phrase in (
        "──▶ │",
        "│ ◀──",
        "S seq +0 win",
        "S. seq +0 ack +1",
        ". seq +1 ack +1",
        f"you {lab.crafting_addr}:40000",
        f"kernel {lab.kernel_addr}:7788",
        "✓",
        "checks passed",
    ):
        assert phrase in text, phrase
    assert "✗" not in text
    lines = text.splitlines()
    assert lines[2].split() == ["ms", "CLOSED", "│", "│", "LISTEN"]  # both sides' start
    syn = next(line for line in lines if "S seq +0" in line)
    synack = next(line for line in lines if "S. seq +0 ack +1" in line)
    ack = next(line for line in lines if ". seq +1 ack +1" in line and "▶" in line)
    assert syn.split()[1] == "SYN_SENT"
    assert synack.split()[-1] == "SYN_RECEIVED"  # beside the SYN+ACK that shows it
    assert ack.split()[1] == "ESTABLISHED" and ack.split()[-1] == "ESTABLISHED"
    absolute = run_cli(
        "handshake",
        "--target",
        f"{lab.kernel}:7788",
        "--sport",
        "40001",
        "--isn",
        "1000",
        "--absolute",
    )
    assert absolute.returncode == 0 and "S seq 1000 win" in absolute.stdout


def test_data_on_the_third_segment_is_acknowledged(lab: TestbedSpec):
    out = run_cli(
        "handshake", "--target", f"{lab.kernel}:7788", "--data", "hello", "--isn", "0", "--json"
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    segs = segments(report)
    assert segs[2]["flags"] == "P." and segs[2]["length"] == 5
    assert segs[3]["flags"] == "." and segs[3]["ack"] == 6  # ISN + 1 + 5
    queued = [c for c in report["checks"] if "receive queue" in c["name"]][0]
    assert queued["ok"] and queued["observed"] == "5 bytes"


def test_keep_leaves_the_connection_established(lab: TestbedSpec):
    out = run_cli("handshake", "--target", f"{lab.kernel}:7788", "--sport", "41234", "--keep")
    assert out.returncode == 0
    rows = json.loads(run_cli("sockets", lab.kernel, "--json").stdout)
    assert any(r["state"] == "ESTABLISHED" and r["dport"] == 41234 for r in rows)
    again = run_cli("handshake", "--target", f"{lab.kernel}:7788", "--sport", "41234")
    assert again.returncode == 2 and "already has a connection" in again.stderr


def test_handshake_to_a_port_without_listener_reports_the_rst_and_exits_1(lab: TestbedSpec):
    out = run_cli("handshake", "--target", f"{lab.kernel}:9", "--json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    segs = segments(report)
    assert segs[1]["flags"] == "R." and segs[1]["seq"] == 0
    assert segs[1]["ack"] == (report["crafting_isn"] + 1) % MOD
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["the handshake completes"]
    assert "nothing listens" in failed[0]["why"]
    text = run_cli("handshake", "--target", f"{lab.kernel}:9")
    assert text.returncode == 1 and "✗ the handshake completes" in text.stdout


def test_send_syn_to_a_closed_port_reports_rst_ack(lab: TestbedSpec):
    out = run_cli("send", "--target", f"{lab.kernel}:9", "--flags", "S", "--seq", "100")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "R. seq 0 ack 101" in out.stdout
    assert "ack = seq + length = 100 + 1 = 101" in out.stdout


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (["--flags", "A", "--ack", "5555"], "R seq 5555 win 0"),
        (["--flags", "SA", "--ack", "77"], "R seq 77 win 0"),
        (["--flags", "F", "--wait", "0.3"], "no reply within 0.3 s"),
        (["--flags", "R", "--wait", "0.3"], "no reply within 0.3 s"),
        (["--flags", "SF", "--wait", "0.3"], "no reply within 0.3 s"),
    ],
)
def test_send_to_a_listener(lab: TestbedSpec, args, answer):
    out = run_cli("send", "--target", f"{lab.kernel}:7788", *args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert answer in out.stdout


def test_send_syn_to_a_listener_gets_syn_ack_with_options(lab: TestbedSpec):
    out = run_cli(
        "send",
        "--target",
        f"{lab.kernel}:7788",
        "--flags",
        "S",
        "--seq",
        "10",
        "--options",
        "mss 1000,sackOK,TS val 5 ecr 0,nop,wscale 2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    synack = segments(report)[1]
    assert synack["flags"] == "S." and synack["ack"] == 11
    assert any(o.startswith("TS val") and o.endswith("ecr 5") for o in synack["options"])


def test_address_targets_work_inside_the_lab_and_are_refused_outside():
    crafting, kernel = unique_names()
    try:
        subnet = "10.199.77.0/24"
        assert (
            run_cli(
                "setup", "--crafting", crafting, "--kernel", kernel, "--subnet", subnet
            ).returncode
            == 0
        )
        ok = run_cli("send", "--target", "10.199.77.2:9", "--flags", "S")
        assert ok.returncode == 0 and "R. seq 0 ack" in ok.stdout
        for target, phrase in (
            ("8.8.8.8:80", "outside the testbed"),
            ("10.199.77.1:80", "crafting host's own address"),
            (f"{crafting}:80", "is the crafting host"),
            ("nosuchns:80", "unknown namespace"),
        ):
            out = run_cli("handshake", "--target", target)
            assert out.returncode == 2, target
            assert phrase in out.stderr and "Traceback" not in out.stderr
    finally:
        remove_testbed(crafting, kernel)


def test_no_lab_at_all_is_an_environment_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TCPLAB_RUN_DIR", str(tmp_path))
    for args in (
        ["handshake", "--target", "ns2:7788"],
        ["send", "--target", "10.77.0.2:80"],
        ["sockets", "ns2"],
        ["status"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(args)
        err = capsys.readouterr().err
        assert exc.value.code == 3, args
        assert "no testbed is set up" in err or "no tcplab testbed is set up" in err
        assert "sudo tcplab setup" in err


def test_a_broken_lab_is_reported_not_used():
    crafting, kernel = unique_names()
    try:
        assert run_cli("setup", "--crafting", crafting, "--kernel", kernel).returncode == 0
        subprocess.run(["ip", "netns", "del", kernel], check=True)
        out = run_cli("handshake", "--target", f"{kernel}:7788")
        assert out.returncode == 3 and "broken" in out.stderr and "setup" in out.stderr
    finally:
        remove_testbed(crafting, kernel)


def test_the_third_segment_seen_independently_has_the_right_seq(lab: TestbedSpec, tmp_path):
    from scapy.layers.inet import TCP
    from scapy.utils import rdpcap

    pcap = tmp_path / "hs.pcap"
    out = run_cli("handshake", "--target", f"{lab.kernel}:7788", "--isn", "77", "--pcap", str(pcap))
    assert out.returncode == 0
    tcp = [p[TCP] for p in rdpcap(str(pcap))]
    assert [str(t.flags) for t in tcp[:3]] == ["S", "SA", "A"]
    assert tcp[2].seq == 78 and tcp[2].ack == (tcp[1].seq + 1) % MOD


def test_send_on_a_kept_connection_predicts_exact_numbers(lab: TestbedSpec):
    assert (
        run_cli(
            "handshake",
            "--target",
            f"{lab.kernel}:7788",
            "--sport",
            "41000",
            "--isn",
            "5000",
            "--keep",
        ).returncode
        == 0
    )
    syn = json.loads(
        run_cli(
            "send", "--target", f"{lab.kernel}:7788", "--sport", "41000", "--flags", "S", "--json"
        ).stdout
    )
    assert syn["ok"]
    names = {c["name"]: c for c in syn["checks"]}
    assert names["ack of the answer to the segment is 5001"]["ok"]
    assert any(n.startswith("seq of the answer") for n in names)
    assert segments(syn)[1]["rel_ack"] == 1
    crafted, answer = segments(syn)[:2]
    assert crafted["from"] == "crafting" and crafted["prediction"]["rule"] == "syn-challenge-ack"
    assert crafted["prediction"]["agrees"] is True and crafted["prediction"]["cause"] == "send"
    assert answer["prediction"] == crafted["prediction"]
    assert names["ack of the answer to the segment is 5001"]["prediction"]["agrees"] is True
    time.sleep(0.6)  # challenge ACKs are rate-limited per socket (500 ms)
    in_window = run_cli(
        "send",
        "--target",
        f"{lab.kernel}:7788",
        "--sport",
        "41000",
        "--flags",
        "R",
        "--seq",
        "5100",
        "--json",
    )
    assert in_window.returncode == 0 and segments(json.loads(in_window.stdout))[1]["flags"] == "."
    exact = run_cli("send", "--target", f"{lab.kernel}:7788", "--sport", "41000", "--flags", "R")
    assert exact.returncode == 0, exact.stdout
    lines = exact.stdout.splitlines()
    assert lines[2].split()[-1] == "ESTABLISHED"  # where the kernel stood
    assert next(line for line in lines if "R seq" in line).split()[-1] == "CLOSED"
    rows = json.loads(run_cli("sockets", lab.kernel, "--json").stdout)
    assert not any(r["dport"] == 41000 for r in rows)


def test_an_unpredicted_answer_is_shown_but_not_counted_as_a_pass(lab: TestbedSpec):
    assert (
        run_cli(
            "send", "--target", f"{lab.kernel}:7788", "--sport", "42000", "--flags", "S"
        ).returncode
        == 0
    )
    out = run_cli(
        "send",
        "--target",
        f"{lab.kernel}:7788",
        "--sport",
        "42000",
        "--flags",
        "A",
        "--ack",
        "12345",
        "--json",
    )
    assert out.returncode == 0
    report = json.loads(out.stdout)
    assert report["checks"] == []
    assert any("not checked" in r.get("text", "") for r in report["ladder"])
    # the kernel's answer follows our ACK; a SYN+ACK it retransmits (about 1 s after the SYN) may
    # come before it, as may the ACK itself
    shown = segments(report)
    ours = next(i for i, row in enumerate(shown) if row["from"] == "crafting")
    answer = [row["flags"] for row in shown[ours + 1 :] if row["from"] == "kernel"]
    assert answer[:1] == ["R"] or answer[:2] == ["S.", "R"], shown


@pytest.mark.parametrize("port", [9, 7788])
def test_syn_fin_ack_is_reset_like_any_ack(lab: TestbedSpec, port):
    out = run_cli("send", "--target", f"{lab.kernel}:{port}", "--flags", "FSA", "--ack", "777")
    assert out.returncode == 0, out.stdout
    assert "R seq 777" in out.stdout


def test_handshake_leaves_no_connection_behind(lab: TestbedSpec):
    for data in ("", "abc"):
        args = ["handshake", "--target", f"{lab.kernel}:7788"] + (["--data", data] if data else [])
        assert run_cli(*args).returncode == 0
    rows = json.loads(run_cli("sockets", lab.kernel, "--json").stdout)
    assert [r["state"] for r in rows] == ["LISTEN"]
    status = json.loads(run_cli("status", "--crafting", lab.crafting, "--json").stdout)[0]
    assert not [s for s in status["app"]["sockets"] if s["kind"] == "connection"]


@pytest.mark.parametrize("delay", [1.0, 1.1, 1.2, 1.3])
def test_an_interrupted_handshake_leaves_no_connection(lab: TestbedSpec, delay):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcplab", "handshake", "--target", f"{lab.kernel}:7788"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
    time.sleep(0.1)
    rows = json.loads(run_cli("sockets", lab.kernel, "--json").stdout)
    assert [r["state"] for r in rows] == ["LISTEN"], rows


def test_a_handshake_stopped_between_the_syn_and_the_ack_resets_the_half_open_connection(
    lab: TestbedSpec, monkeypatch: pytest.MonkeyPatch
):
    """Ctrl-C after the SYN+ACK but before the third segment: the kernel holds a request sock
    (SYN_RECEIVED); the tidy-up resets it with a RST at our ISN + 1, so nothing is left."""

    def stopped(self: object, *_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(handshake._Handshake, "_third_segment", stopped)
    target = Target(lab, 7788)
    with pytest.raises(KeyboardInterrupt):
        handshake.run_handshake(target, handshake.HandshakeOptions(isn=1000))
    rows = json.loads(run_cli("sockets", lab.kernel, "--json").stdout)
    assert [r["state"] for r in rows] == ["LISTEN"], rows


def test_handshake_json_predicts_every_crafted_segment_and_the_model_agrees(lab: TestbedSpec):
    out = run_cli(
        "handshake", "--target", f"{lab.kernel}:7788", "--data", "hi", "--isn", "1000", "--json"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    segs = segments(report)
    crafted = [s for s in segs if s["from"] == "crafting"]
    assert [s["flags"] for s in crafted] == ["S", "P.", "R"]  # the last: the tidy-up RST
    assert all(s["prediction"]["agrees"] is True for s in crafted), crafted
    syn, third, rst = (s["prediction"] for s in crafted)
    assert (syn["rule"], syn["cause"], syn["pattern"]) == (
        "listen-syn",
        "the SYN",
        "S. seq * ack 1001",
    )
    assert third["cause"] == "the third segment" and third["pattern"].startswith(". seq ")
    assert rst["pattern"] is None and rst["cause"] == "the tidy-up RST"
    kernel = [s for s in segs if s["from"] == "kernel"]
    assert [s["prediction"] for s in kernel[:2]] == [syn, third]  # each by its own cause
    answers = [c for c in report["checks"] if "answer to" in c["name"]]
    assert answers and all(c["prediction"]["agrees"] is True for c in answers)
    assert {c["prediction"]["cause"] for c in answers} == {"the SYN", "the third segment"}


def test_send_of_a_rst_in_the_window_gets_the_predicted_challenge_ack(lab: TestbedSpec):
    assert (
        run_cli(
            "handshake",
            "--target",
            f"{lab.kernel}:7788",
            "--sport",
            "41500",
            "--isn",
            "7000",
            "--keep",
        ).returncode
        == 0
    )
    out = run_cli(
        "send",
        "--target",
        f"{lab.kernel}:7788",
        "--sport",
        "41500",
        "--flags",
        "R",
        "--seq",
        "7100",
        "--json",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    crafted, answer = segments(report)[:2]
    pred = crafted["prediction"]
    assert pred["rule"].startswith("rst-in-window") and pred["agrees"] is True
    assert answer["flags"] == "." and answer["prediction"] == pred
    assert pred["pattern"] == f". seq {(report['kernel_isn'] + 1) % MOD} ack 7001"
    assert report["checks"] and all(c["prediction"] == pred for c in report["checks"])
    # the kept numbers follow the model: a RST at the kernel's rcv_nxt now resets the connection
    exact = json.loads(
        run_cli(
            "send", "--target", f"{lab.kernel}:7788", "--sport", "41500", "--flags", "R", "--json"
        ).stdout
    )
    rst = segments(exact)[0]
    assert rst["seq"] == 7001 and rst["prediction"]["pattern"] is None
    assert rst["prediction"]["agrees"] is True and exact["ok"]
