"""Sysctl values the kernel refuses are exit 2 before anything runs; one scenario that fails while
running never stops the others, and --json prints what ran; counters and sysctl steps on the real
kernel (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcplab.cli import main, runcmd
from tcplab.netns.sysctl import try_values
from tests.conftest import REPO, run_cli
from tests.integration.test_scenarios import lab_namespaces

pytestmark = pytest.mark.netns
GOOD = REPO / "scenarios" / "rst-exact.toml"


def bad(tmp_path: Path, key: str, value: str, name: str = "bad") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'[scenario]\ntitle = "t"\n[scenario.sysctl]\n"{key}" = "{value}"\n[[step]]\napp = "listen"\n'
    )
    return path


def host(key: str) -> str:
    return Path("/proc/sys", *key.split(".")).read_text().strip()


def test_trying_values_never_touches_the_hosts_own() -> None:
    before = {k: host(k) for k in ("net.ipv4.tcp_ecn", "net.ipv4.tcp_rfc1337")}
    refused = try_values([("net.ipv4.tcp_ecn", "4"), ("net.ipv4.tcp_rfc1337", "1")])
    assert [(r.key, r.value, r.reason) for r in refused] == [
        ("net.ipv4.tcp_ecn", "4", "invalid argument")
    ]
    assert {k: host(k) for k in before} == before


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        (
            "net.ipv4.tcp_ecn",
            "4",
            "the kernel refuses sysctl net.ipv4.tcp_ecn = 4: invalid argument",
        ),
        ("net.ipv4.tcp_congestion_control", "cubic", "= cubic: operation not permitted"),
        ("net.ipv4.tcp_congestion_control", "nosuchcc", "= nosuchcc: no such file or directory"),
    ],
)
def test_a_value_the_kernel_refuses_is_exit_2_before_anything_runs(tmp_path, key, value, phrase):
    """It was exit 3 half-way through the batch, with nothing printed by --json."""
    before = lab_namespaces()
    out = run_cli("run", str(GOOD), str(bad(tmp_path, key, value)), "--json")
    err = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert err[0].startswith(f"error: {tmp_path / 'bad.toml'}:4: ") and phrase in err[0]
    assert err[1].startswith("hint: ") and len(err) == 2
    assert out.stdout == "" and lab_namespaces() <= before
    assert host(key) != value


def test_a_sysctl_step_the_kernel_refuses_is_exit_2(tmp_path):
    path = tmp_path / "step.toml"
    path.write_text(
        '[scenario]\ntitle = "t"\n[[step]]\napp = "listen"\n[[step]]\nsysctl = { tcp_ecn = 4 }\n'
    )
    out = run_cli("run", str(path))
    assert out.returncode == 2 and f"error: {path}:6: the kernel refuses sysctl" in out.stderr


def test_one_scenario_that_cannot_run_never_stops_the_others(tmp_path, monkeypatch, capsys):
    """Past the load checks (turned off here so the kernel itself refuses, in the lab), the bad
    scenario is its own result: the others run, --json prints every result, the exit is 3."""
    monkeypatch.setattr(runcmd, "check_sysctls", lambda _scenarios: None)
    before = lab_namespaces()
    with pytest.raises(SystemExit) as exc:
        main(["run", str(GOOD), str(bad(tmp_path, "net.ipv4.tcp_ecn", "4")), "--json", "-j", "2"])
    out, err = capsys.readouterr()
    results = {r["scenario"]: r for r in json.loads(out)}
    assert exc.value.code == 3
    assert results["rst-exact"]["ok"] and results["rst-exact"]["error"] is None
    assert not results["bad"]["ok"]
    assert "cannot set net.ipv4.tcp_ecn = 4" in results["bad"]["error"]["message"]
    assert err.startswith("error: 1 of 2 scenarios could not run (bad): cannot set")
    assert lab_namespaces() <= before


def test_counters_and_a_sysctl_step_on_the_real_kernel():
    out = run_cli(
        "run",
        str(REPO / "scenarios" / "linux-counters-syn-queue.toml"),
        str(REPO / "scenarios" / "mutants" / "linux-counters-syn-queue.toml"),
        "--json",
    )
    assert out.returncode == 1, out.stderr
    good, mutant = json.loads(out.stdout)
    assert good["ok"] and good["sysctl"] == {"net.ipv4.tcp_syncookies": "0"}
    failed = [c for c in mutant["report"]["checks"] if not c["ok"]]
    assert {c["observed"] for c in failed} >= {
        "TcpExtSyncookiesSent +0",
        "TcpExtTCPReqQFullDrop +1",
    }
    assert host("net.ipv4.tcp_syncookies") == "1", "the host's own value is untouched"
