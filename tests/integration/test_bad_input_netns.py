"""Bad and extreme inputs on the real kernel: a SYN flood's report is capped, outputs are written
where they were checked (a scenario and its mutant keep both captures), a symlink put in place of
an output during a run is never followed, and a scenario title full of markup and escape sequences
reaches no terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcplab.engine.report import SHOWN_FIRST, SHOWN_LAST
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.netns

FLOOD = """[scenario]
title = "300 SYNs to a closed port \\u001b[2J[/] [red]"
port = 9
ignore_extra = true

[[step]]
send = "S 0"
conn = "c{i}"
repeat = 300
"""


def test_a_syn_flood_report_lists_at_most_the_capped_number_of_segments(tmp_path: Path) -> None:
    (tmp_path / "flood.toml").write_text(FLOOD)
    out = run_cli("run", str(tmp_path / "flood.toml"), "--json", timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (result,) = json.loads(out.stdout)
    ladder = result["report"]["ladder"]
    segments = [row for row in ladder if row["kind"] == "segment"]
    assert len(segments) == SHOWN_FIRST + SHOWN_LAST
    assert any("segments not shown (see the pcap)" in row.get("text", "") for row in ladder)
    text = run_cli("run", str(tmp_path / "flood.toml"), timeout=300)
    assert text.returncode == 0, text.stderr[-2000:]
    assert "\x1b" not in text.stdout and "\\x1b[2J[/] [red]" in text.stdout
    assert "segments not shown (see the pcap)" in text.stdout


def test_outputs_are_written_where_they_were_checked(tmp_path: Path) -> None:
    pcaps = tmp_path / "pcaps"
    pcaps.mkdir()
    junit = tmp_path / "out.xml"
    scenario = REPO / "scenarios" / "syn-to-closed-port.toml"
    mutant = REPO / "scenarios" / "mutants" / "syn-to-closed-port.toml"
    out = run_cli(
        "run", str(scenario), str(mutant), "--pcap", str(pcaps), "--junit", str(junit),
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr[-2000:]  # the mutant fails, as it must
    assert sorted(p.name for p in pcaps.iterdir()) == [
        "syn-to-closed-port.2.pcap",
        "syn-to-closed-port.pcap",
    ]
    for pcap in pcaps.iterdir():
        assert pcap.stat().st_size > 24 and oct(pcap.stat().st_mode)[-3:] == "644"
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"


def test_a_symlink_swapped_in_for_the_junit_file_is_not_followed(tmp_path: Path) -> None:
    """The path is checked before the run and opened with O_NOFOLLOW after it: a link made in
    between (by someone racing the run) ends in an error, and its target is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    junit = tmp_path / "out.xml"
    slow = tmp_path / "slow.toml"
    slow.write_text(
        (REPO / "scenarios" / "syn-to-closed-port.toml").read_text() + "\n[[step]]\nsleep = 2.5\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "tcplab", "run", str(slow), "--junit", str(junit)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    os.symlink(victim, junit)
    _out, err = p.communicate(timeout=120)
    # 3: caught when writing after the run; 2 only on a machine so slow that the link was
    # already there when the path was checked before the run
    assert p.returncode in (2, 3), err
    assert err.startswith("error: cannot write --junit") and "symbolic link" in err
    assert victim.read_text() == "keep me"


def test_hints_name_the_testbeds_that_exist(lab) -> None:
    """A wrong name gets a hint naming the testbeds here, not the default names."""
    sockets = run_cli("sockets", "tcplab-nosuch")
    assert sockets.returncode == 2
    assert "namespaces of testbeds here: " in sockets.stderr and lab.kernel in sockets.stderr
    shell = run_cli("shell", "--crafting", lab.kernel)  # the kernel host is no crafting host
    assert shell.returncode == 3
    assert f"no working testbed with crafting host {lab.kernel}" in shell.stderr
    assert "give --crafting with one of: " in shell.stderr and lab.crafting in shell.stderr
    again = run_cli("setup", "--crafting", lab.crafting, "--kernel", "tcplab-other-k")
    assert again.returncode == 2
    assert f"run 'sudo tcplab teardown --crafting {lab.crafting}' first" in again.stderr
