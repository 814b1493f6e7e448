"""tcplab watch on a real testbed: a handshake made in another process shows up, live, with the
kernel's states as its socket table had them; Ctrl-C ends it cleanly; a broken testbed is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tcplab.netns.record import IFNAME, TestbedSpec
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.netns


def _start(spec: TestbedSpec, *args: str) -> subprocess.Popen[str]:
    """`tcplab watch` on `spec`, piped, as a user would run it in another terminal; returns once
    it is watching (its first line is printed after its capture is open)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcplab", "watch", "--target", f"{spec.kernel}:{spec.port}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith(f"watching {spec.crafting}"), first + proc.stderr.read()
    return proc


def _finish(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out, err


def _lines_with(out: str, *phrases: str) -> list[int]:
    """The line number of the first line holding each phrase, in order."""
    lines = out.splitlines()
    found = []
    for phrase in phrases:
        at = next((i for i, line in enumerate(lines) if phrase in line), None)
        assert at is not None, f"{phrase!r} not in:\n{out}"
        found.append(at)
    return found


def _send(spec: TestbedSpec, *args: str) -> dict[str, Any]:
    out = run_cli("send", "--target", f"{spec.kernel}:{spec.port}", "--json", *args)
    assert out.returncode == 0, out.stdout + out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def test_watch_shows_a_handshake_made_elsewhere_with_the_kernels_states(
    lab: TestbedSpec,
) -> None:
    """A student's handshake, one segment at a time from another process (as from tcplab shell):
    each segment, the model's cause of the kernel's, and the kernel's states in order."""
    proc = _start(lab, "--for", "60")  # ended by Ctrl-C once the ACK is in
    got = _send(lab, "--flags", "S", "--sport", "40123", "--seq", "1000")
    synack = next(r for r in got["ladder"] if r["kind"] == "segment" and r["from"] == "kernel")
    time.sleep(1.2)  # the kernel holds SYN_RECEIVED, and sends its SYN+ACK again after 1 s
    ack = (synack["seq"] + 1) % (1 << 32)
    _send(lab, "--flags", "A", "--sport", "40123", "--seq", "1001", "--ack", str(ack))
    time.sleep(1.0)  # settled: the pipe has printed it
    proc.send_signal(signal.SIGINT)
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    assert err == ""
    lines = out.splitlines()
    start, syn, synack_at, again, ack_at = _lines_with(
        out,
        "  ms  ",
        ":40123 S seq +0",
        ":40123 S. seq +0 ack +1",
        "(timer: retransmission timer)",  # the model's cause of the second SYN+ACK
        ":40123 . seq +1 ack +1",
    )
    assert start < syn < synack_at < again < ack_at
    assert lines[start].endswith("│ LISTEN")
    assert lines[synack_at].endswith("│ SYN_RECEIVED")  # read in its socket table, no "*"
    # a piece printed later names the state it comes from: "SYN_RECEIVED →" over "ESTABLISHED"
    here, below = lines[ack_at], lines[ack_at + 1]
    assert here.endswith("│ ESTABLISHED") or (here.endswith("→") and below.endswith("ESTABLISHED"))
    assert lines[-1].startswith(f"kernel ({lab.kernel}) now:") and "ESTABLISHED" in lines[-1]


def test_a_fast_handshake_shows_up_whole(lab: TestbedSpec) -> None:
    """tcplab handshake from another process: three segments in a few ms; the kernel's
    SYN_RECEIVED may be over before its table is read on a busy machine, ESTABLISHED is not."""
    proc = _start(lab, "--for", "8")
    hs = run_cli("handshake", "--target", f"{lab.kernel}:{lab.port}", "--sport", "40125")
    assert hs.returncode == 0, hs.stdout + hs.stderr
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    syn, synack, ack, rst = _lines_with(
        out, ":40125 S seq", ":40125 S. seq", ":40125 . seq", ":40125 R seq"
    )
    assert syn < synack < ack < rst
    lines = out.splitlines()
    assert lines[ack].rstrip("*").endswith("│ ESTABLISHED")  # *: proved, not read in time
    assert lines[rst].endswith("│ CLOSED")
    assert all(len(line) <= 80 for line in lines[1:-1])  # piped: laid out for a page


def test_ctrl_c_ends_watching_with_exit_0_and_the_states_last_seen(lab: TestbedSpec) -> None:
    proc = _start(lab)
    hs = run_cli("handshake", "--target", f"{lab.kernel}:{lab.port}", "--sport", "40124", "--keep")
    assert hs.returncode == 0, hs.stdout + hs.stderr
    time.sleep(0.8)  # settled: the pipe has printed it
    proc.send_signal(signal.SIGINT)
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "error:" not in err
    assert ":40124⇄:" in out.splitlines()[-1] and "ESTABLISHED" in out.splitlines()[-1]


def test_watch_refuses_a_broken_testbed_with_a_hint(lab: TestbedSpec) -> None:
    subprocess.run(["ip", "-n", lab.crafting, "link", "set", IFNAME, "down"], check=True)
    out = run_cli("watch", "--target", f"{lab.kernel}:{lab.port}", "--for", "1")
    assert out.returncode == 3, out.stderr
    error, hint = out.stderr.splitlines()
    assert error.startswith("error: the testbed of") and "broken" in error
    assert hint.startswith("hint: run 'sudo tcplab setup' again")
    assert out.stdout == ""


def test_sigterm_interrupts_watching_as_any_command(lab: TestbedSpec) -> None:
    proc = _start(lab)
    proc.send_signal(signal.SIGTERM)
    out, err = _finish(proc)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["error: interrupted; what this command had made was removed"]


def test_a_testbed_torn_down_while_watched_ends_watching_with_a_hint(lab: TestbedSpec) -> None:
    proc = _start(lab)
    down = run_cli("teardown", "--crafting", lab.crafting)
    assert down.returncode == 0, down.stderr
    out, err = _finish(proc)
    assert proc.returncode == 3, err
    error, hint = err.splitlines()
    assert error.startswith(
        f"error: the testbed {lab.crafting} ⇄ {lab.kernel} broke while watching"
    )
    assert hint.startswith("hint: run 'sudo tcplab status'")


def test_watching_in_process_leaves_no_thread_or_socket_open(lab: TestbedSpec) -> None:
    import threading

    from tcplab.exercise.live import Live
    from tcplab.netns.record import find_record

    rec = find_record(lab.crafting)
    assert rec is not None
    before = set(threading.enumerate())
    with Live(rec, lab.port) as live:
        live.poll(0.1)
        assert live.refresh().events  # the application's log: its listen() at least
        sampler, capture = live._sampler, live._capture
        assert sampler.is_alive()
    assert not sampler.is_alive() and set(threading.enumerate()) <= before
    assert capture.sock.fileno() == -1
