"""The scenario corpus on the real kernel: every scenario passes, every mutant fails naming its
mismatch, outputs (JSON, JUnit, pcap) are well formed, and no lab is ever left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tcplab.defaults import RUN_PREFIX
from tcplab.engine.scenario import load
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.netns
SCENARIOS = sorted((REPO / "scenarios").glob("*.toml"))
MUTANTS = sorted((REPO / "scenarios" / "mutants").glob("*.toml"))


def lab_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith(RUN_PREFIX)}


def run_json(folder: Path, expect_code: int) -> dict[str, dict[str, Any]]:
    before = lab_namespaces()
    out = run_cli("run", str(folder), "--json", "-j", "2", timeout=600)
    assert out.returncode == expect_code, out.stderr[-2000:]
    assert lab_namespaces() <= before, "a scenario lab was left behind"
    return {r["scenario"]: r for r in json.loads(out.stdout)}


@pytest.fixture(scope="module")
def corpus() -> dict[str, dict[str, Any]]:
    return run_json(REPO / "scenarios", 0)


@pytest.fixture(scope="module")
def mutants() -> dict[str, dict[str, Any]]:
    return run_json(REPO / "scenarios" / "mutants", 1)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_passes_on_this_kernel(corpus, path):
    result = corpus[path.stem]
    failed = [c for c in result["report"]["checks"] if not c["ok"]]
    assert result["ok"] and not failed, failed
    assert result["report"]["checks"], "a scenario that checks nothing cannot fail"


@pytest.mark.parametrize("path", MUTANTS, ids=lambda p: p.stem)
def test_mutant_fails_and_names_the_mismatch(mutants, path):
    sc = load(path)
    result = mutants[path.stem]
    assert not result["ok"]
    failed = [c for c in result["report"]["checks"] if not c["ok"]]
    text = "\n".join(f"{c['name']}: expected {c['expected']}, got {c['observed']}" for c in failed)
    assert sc.fails_with in text, text
    assert all(c["why"] for c in failed), "every mismatch comes with an explanation"


def test_sysctls_are_per_lab_and_recorded(corpus):
    assert corpus["synack-retransmission"]["sysctl"] == {"net.ipv4.tcp_synack_retries": "2"}
    host = Path("/proc/sys/net/ipv4/tcp_synack_retries").read_text().strip()
    assert host == "5", "the host's own value must be untouched"


def crafted_predictions(corpus: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(scenario, ladder entry) for every segment the crafting host sent, over the whole corpus."""
    return [
        (name, e)
        for name, result in sorted(corpus.items())
        for e in result["report"]["ladder"]
        if e["kind"] == "segment" and e["from"] == "crafting"
    ]


def test_every_crafted_segment_is_predicted_and_agrees(corpus):
    crafted = crafted_predictions(corpus)
    assert len(crafted) >= 290, f"the corpus shrank to {len(crafted)} crafted segments"
    unpredicted = [(n, e["text"]) for n, e in crafted if e.get("prediction") is None]
    assert not unpredicted, unpredicted
    disagree = [
        (n, e["prediction"]["cause"], e["text"], e["prediction"]["rule"])
        for n, e in crafted
        if e["prediction"]["agrees"] is not True
    ]
    assert not disagree, disagree


def test_every_kernel_segment_is_explained_by_its_own_cause(corpus):
    """Each segment the kernel sent has the prediction of what caused it (a crafted segment, an
    application call such as send(), or a timer such as the SYN's), and the kernel did it."""
    kernel = [
        (name, e)
        for name, result in sorted(corpus.items())
        for e in result["report"]["ladder"]
        if e["kind"] == "segment" and e["from"] == "kernel"
    ]
    assert len(kernel) >= 215, f"the corpus shrank to {len(kernel)} kernel segments"
    unexplained = [(n, e["text"]) for n, e in kernel if e.get("prediction") is None]
    assert not unexplained, unexplained
    wrong = [
        (n, e["text"], e["prediction"]) for n, e in kernel if e["prediction"]["agrees"] is not True
    ]
    assert not wrong, wrong
    causes = {e["prediction"]["cause"].split(":")[0] for _, e in kernel}
    assert all(c == "timer" or c.startswith("line ") for c in causes), causes


def test_text_output_shows_expected_and_observed_side_by_side():
    mutant = REPO / "scenarios" / "mutants" / "passive-close.toml"
    out = run_cli("run", str(mutant))
    assert out.returncode == 1
    flat = " ".join(out.stdout.replace("│", " ").split())  # the ladder's lanes, unwrapped
    assert "expected . 1:1(0) ack 1" in flat and "observed . 1:1(0) ack 2" in flat
    assert "✗ ack of the kernel's segment (line" in out.stdout
    assert "the FIN occupies one sequence number" in out.stdout
    assert "0 passed, 1 failed: passive-close" in out.stdout


def test_junit_and_pcap_outputs(tmp_path):
    junit = tmp_path / "junit.xml"
    pcaps = tmp_path / "pcaps"
    pcaps.mkdir()
    files = [
        REPO / "scenarios" / "rst-exact.toml",
        REPO / "scenarios" / "mutants" / "rst-exact.toml",
    ]
    out = run_cli("run", *map(str, files), "--junit", str(junit), "--pcap", str(pcaps), "-j", "1")
    assert out.returncode == 1
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.find("failure") is None for c in cases] == [True, False]
    assert "expected ESTABLISHED, got CLOSED" in (cases[1].find("failure").text or "")
    dump = subprocess.run(
        ["tcpdump", "-nn", "-r", str(pcaps / "rst-exact.pcap")], capture_output=True, text=True
    )
    assert dump.returncode == 0 and "Flags [R]" in dump.stdout


@pytest.mark.parametrize("delay", [0.8, 1.4, 2.0])
def test_ctrl_c_during_a_run_leaves_no_lab(delay):
    before = lab_namespaces()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcplab", "run", str(REPO / "scenarios"), "--quick", "-j", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130, -2), err
    assert "Traceback" not in err
    assert lab_namespaces() <= before
