"""Records, names and processes without root: what tcplab trusts, and what it refuses before any
path is formed (issue 17, items 1 and 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tcplab.errors import UsageError
from tcplab.netns import lock, proc, record
from tcplab.netns.record import TestbedRecord, TestbedSpec, UntrustedRecord, valid_name


@pytest.mark.parametrize("name", ["ns1", "a", "tlt0123abcdc", "A.b-c_d", "x" * 64])
def test_namespace_names_ip_netns_allows_are_accepted(name):
    assert valid_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "/tmp/x", "../../../tmp/x", "a/b", "ns1\n", "a\0b", "x" * 65, "²", "nş", "-x"],
)
def test_names_that_would_form_another_path_are_refused(name):
    with pytest.raises(UsageError) as exc:
        valid_name(name, "crafting namespace")
    assert exc.value.message.startswith("bad crafting namespace name")
    assert "\n" not in exc.value.message and "\0" not in exc.value.message


@pytest.mark.parametrize(
    "subnet", ["0.0.0.0/0", "8.8.8.0/24", "172.32.0.0/16", "100.128.0.0/16", "11.0.0.0/8"]
)
def test_subnets_outside_private_lab_space_are_refused(subnet):
    with pytest.raises(UsageError) as exc:
        TestbedSpec(subnet=subnet).validate()
    assert "address space" in exc.value.message and "10.0.0.0/8" in exc.value.hint


@pytest.mark.parametrize(
    "subnet", ["10.77.0.0/24", "10.0.0.0/8", "172.16.5.0/24", "192.168.1.0/30", "100.64.3.0/24"]
)
def test_private_subnets_are_accepted(subnet):
    assert TestbedSpec(subnet=subnet).validate().subnet == subnet


@pytest.fixture
def labs(tmp_path, monkeypatch) -> Path:
    """A private record folder owned by whoever runs the tests."""
    monkeypatch.setenv("TCPLAB_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setattr(lock, "OWNER_UID", os.getuid())
    (tmp_path / "run" / "labs").mkdir(parents=True, mode=0o755)
    return tmp_path / "run" / "labs"


def good_record(labs: Path, name: str = "tlu1c") -> dict:
    me = proc.self_id()
    return {
        "format": record.FORMAT,
        "spec": {"crafting": name, "kernel": "tlu1k", "subnet": "10.9.0.0/24", "port": 80},
        "namespaces": {name: 4026532001, "tlu1k": 4026532002},
        "cookies": {name: 7, "tlu1k": 8},
        "app": {"pid": 1, "start_ticks": 5, "control": str(labs / name / "app.sock")},
        "complete": True,
        "created": 1.5,
        "builder": None,
        "owner": {"pid": me.pid, "start_ticks": me.start_ticks, "cmdline": me.cmdline},
    }


def write(labs: Path, data: object, name: str = "tlu1c") -> Path:
    folder = labs / name
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / "lab.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    path.chmod(0o644)
    return path


def test_a_record_tcplab_wrote_round_trips(labs):
    rec = TestbedRecord(TestbedSpec("tlu2c", "tlu2k"), owner=proc.self_id())
    rec.save()
    raw = json.loads((labs / "tlu2c" / "lab.json").read_text())
    assert raw["format"] == "tcplab-lab/1"
    assert record.find_record("tlu2c") == rec
    assert record.all_records() == [rec]


def test_an_untagged_record_of_the_previous_version_is_accepted(labs):
    data = good_record(labs)
    del data["format"], data["owner"]
    write(labs, data)
    rec = record.find_record("tlu1c")
    assert rec is not None and rec.app is not None and rec.app.cmdline is None


GARBLED = [
    (lambda d: d.update(format="other/2"), "format"),
    (
        lambda d: d.update(
            spec={**d["spec"], "crafting": "tlu9c"}, namespaces={}, cookies={}, app=None
        ),
        "not its folder",
    ),
    (lambda d: d["spec"].update(kernel="../x"), "bad kernel namespace name"),
    (lambda d: d["spec"].update(subnet="0.0.0.0/0"), "not private"),
    (lambda d: d["spec"].update(port="80"), "port"),
    (lambda d: d["namespaces"].update(ns9=5), "not one of this testbed's"),
    (lambda d: d["namespaces"].update(tlu1k=-1), "not one of this testbed's"),
    (lambda d: d["app"].update(pid=0), "pid"),
    (lambda d: d["app"].update(pid=True), "pid"),
    (lambda d: d["app"].update(control="/tmp/evil.sock"), "control socket"),
    (lambda d: d["app"].update(cmdline="sleep"), "cmdline"),
    (lambda d: d.update(builder={"pid": -4, "start_ticks": 1}), "bad pid"),
    (lambda d: d.update(owner=[1, 2]), "not an object"),
    (lambda d: d.update(complete="yes"), "complete"),
    (lambda d: d.pop("spec"), "spec"),
]


@pytest.mark.parametrize(("change", "phrase"), GARBLED)
def test_a_garbled_record_is_not_trusted(labs, change, phrase):
    data = good_record(labs)
    change(data)
    write(labs, data)
    with pytest.raises(UntrustedRecord) as exc:
        record.find_record("tlu1c")
    assert "garbled" in exc.value.reason or "folder" in exc.value.reason
    assert phrase in exc.value.reason
    good, broken = record.scan_records()
    assert good == [] and [b.name for b in broken] == ["tlu1c"]


@pytest.mark.parametrize(
    "text", ["[" * 5000 + "]" * 5000, "{", "\xff\xfe", "[]", json.dumps("x"), "1" * 70000]
)
def test_nonsense_is_not_trusted_and_raises_no_other_error(labs, text):
    write(labs, text)
    with pytest.raises(UntrustedRecord):
        record.find_record("tlu1c")


def test_a_fifo_as_lab_json_does_not_hang(labs):
    (labs / "tlu1c").mkdir(mode=0o700)
    os.mkfifo(labs / "tlu1c" / "lab.json")
    started = time.monotonic()
    with pytest.raises(UntrustedRecord, match="FIFO"):
        record.find_record("tlu1c")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("kind", ["symlink", "directory", "hardlink", "group-writable", "none"])
def test_a_record_that_is_not_a_plain_file_of_its_own_is_not_trusted(labs, tmp_path, kind):
    folder = labs / "tlu1c"
    folder.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(good_record(labs)))
    if kind == "symlink":
        (folder / "lab.json").symlink_to(elsewhere)
    elif kind == "directory":
        (folder / "lab.json").mkdir()
    elif kind == "hardlink":
        os.link(elsewhere, folder / "lab.json")
    elif kind == "group-writable":
        write(labs, good_record(labs)).chmod(0o664)
    with pytest.raises(UntrustedRecord):
        record.find_record("tlu1c")


def test_a_record_folder_that_is_a_symlink_is_not_trusted(labs, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (real / "lab.json").write_text(json.dumps(good_record(labs)))
    (labs / "tlu1c").symlink_to(real)
    with pytest.raises(UntrustedRecord, match="not a directory"):
        record.find_record("tlu1c")


def test_a_path_as_a_name_is_refused_before_any_file_is_read(labs, tmp_path):
    (tmp_path / "x").mkdir()
    write(tmp_path, good_record(labs), "x")
    for name in (str(tmp_path / "x"), "../../x", ".."):
        with pytest.raises(UsageError):
            record.find_record(name)


def test_a_process_is_the_same_only_with_the_same_start_time_and_command_line():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 5
        me = proc.identify(child.pid)
        while me is None or "time.sleep(30)" not in " ".join(me.cmdline or []):
            assert time.monotonic() < deadline
            me = proc.identify(child.pid)
        assert proc.alive(me)
        assert not proc.alive(proc.ProcessId(me.pid, me.start_ticks + 1, me.cmdline))
        assert not proc.alive(proc.ProcessId(me.pid, me.start_ticks, ["sleep", "30"]))
        assert proc.alive(proc.ProcessId(me.pid, me.start_ticks))  # an older record: no cmdline
    finally:
        child.kill()
        child.wait()
    assert not proc.alive(me)


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (
            ["setup", "--subnet", "0.0.0.0/0"],
            "subnet 0.0.0.0/0 is not private testbed address space",
        ),
        (
            ["setup", "--subnet", "8.8.8.0/24"],
            "subnet 8.8.8.0/24 is not private testbed address space",
        ),
        (["setup", "--crafting", "../../../x"], "bad crafting namespace name '../../../x'"),
        (["setup", "--kernel", "a/b"], "bad kernel namespace name 'a/b'"),
        (["teardown", "--crafting", "/some/dir"], "bad crafting namespace name '/some/dir'"),
        (["teardown", "--crafting", "../../../some/dir"], "bad crafting namespace name"),
        (["teardown", "--crafting", ".."], "bad crafting namespace name '..'"),
        (["status", "--crafting", "/tmp/x"], "bad crafting namespace name '/tmp/x'"),
        (["sockets", "../x"], "bad namespace name '../x'"),
        (["sockets", "ns2\n"], "bad namespace name 'ns2?'"),
    ],
)
def test_a_path_or_a_public_subnet_is_a_usage_error_before_anything_is_made(args, phrase, capsys):
    from tcplab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.splitlines()
    assert exc.value.code == 2
    assert len(err) == 2 and err[0].startswith(f"error: {phrase}") and err[1].startswith("hint: ")
