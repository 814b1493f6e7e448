"""Numbers the kernel chose, on the real kernel: a passive handshake with timestamps completes (the
third ACK echoes the kernel's TS val), and `tcplab run --json` gives every segment relative seq/ack
and SACK edges (the runner fills each conn's ISNs; they were null before issue 11)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.netns


def test_json_has_relative_numbers_and_relative_sack_blocks_for_every_segment():
    files = [REPO / "scenarios" / f for f in ("sack-blocks.toml", "passive-open-timestamps.toml")]
    out = run_cli("run", *map(str, files), "--json", "-j", "2", timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    results = {r["scenario"]: r for r in json.loads(out.stdout)}
    for name, result in results.items():
        report = result["report"]
        assert report["crafting_isn"] is not None and report["kernel_isn"] is not None, name
        segments = [e for e in report["ladder"] if e["kind"] == "segment"]
        assert segments, name
        for e in segments:
            assert e["rel_seq"] is not None, (name, e["text"])
            assert (e["ack"] is None) == (e["rel_ack"] is None), (name, e["text"])
    sacks = [
        e["options"][-1]
        for e in results["sack-blocks"]["report"]["ladder"]
        if e["kind"] == "segment"
        and e["from"] == "kernel"
        and e["options"]
        and e["options"][-1].startswith("sack ")
    ]
    assert sacks[:4] == [
        "sack 1001:1101",
        "sack 2001:2101 1001:1101",
        "sack 2001:2101",
        "sack 1:101 2001:2101",
    ]
    checks = results["passive-open-timestamps"]["report"]["checks"]
    assert any(c["name"].startswith("the kernel's socket") and c["ok"] for c in checks)
