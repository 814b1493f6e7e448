"""Grading's defences that need no lab: solution files read without following, blocking on or
swallowing them; verdicts only from what was measured; student text cleaned everywhere it is shown;
reference copies flagged; capped ladders; a proxy with bounded connections and threads; the jail's
hidden labs folders."""

from __future__ import annotations

import csv
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tcplab import text
from tcplab.exercise.catalog import get
from tcplab.grade import copies, outputs
from tcplab.grade.grader import hidden, judge
from tcplab.grade.outcome import Outcome, Verdict
from tcplab.grade.proxy import MAX_CONNECTIONS, Proxy
from tcplab.grade.submission import MAX_SOLUTION, Unusable, discover, read_solution
from tcplab.sandbox.cgroup import Usage
from tcplab.sandbox.runner import Limits, SandboxRun

NASTY_LINE = "a\x1b[2Kb\x1b]0;title\x07c\x9b31md\u202eevil\u202ce\u200bf\ufeffg\x00i\x7fj"
NASTY = "a\x1b[2Kb\x1b]0;title\x07c\x9b31md\u202eevil\u202ce\u200bf\ufeffg\rh\x00i\x7fj\u2028k"
UNSAFE = set("\x1b\x07\x9b\u202e\u202c\u200b\ufeff\r\x00\x7f\u2028")


# ---- reading a solution --------------------------------------------------------------------


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "lab.py").write_bytes(b"print(1)\n")
    assert read_solution(tmp_path / "lab.py") == b"print(1)\n"


def _unusable(path: Path) -> str:
    with pytest.raises(Unusable) as err:
        read_solution(path)
    return str(err.value)


def test_a_directory_fifo_socket_and_symlinks_are_refused_without_blocking(tmp_path: Path) -> None:
    (tmp_path / "dir.py").mkdir()
    os.mkfifo(tmp_path / "fifo.py")  # opening it for reading would block without a writer
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.py"))
    (tmp_path / "real.py").write_text("x = 1\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "real.py")
    (tmp_path / "broken.py").symlink_to(tmp_path / "nowhere")
    try:
        started = time.monotonic()
        assert _unusable(tmp_path / "dir.py") == "dir.py is a folder; only a regular file is run"
        assert _unusable(tmp_path / "fifo.py").startswith("fifo.py is a FIFO")
        assert _unusable(tmp_path / "sock.py").startswith("sock.py is a socket")
        assert _unusable(tmp_path / "link.py").startswith("link.py is a symbolic link")
        assert _unusable(tmp_path / "broken.py").startswith("broken.py is a symbolic link")
        assert _unusable(Path("/dev/null")).startswith("null is a character device")
        assert time.monotonic() - started < 1
    finally:
        sock.close()


def test_a_giant_is_refused_without_being_read(tmp_path: Path) -> None:
    with open(tmp_path / "big.py", "wb") as f:
        f.truncate(10 << 20)
    assert _unusable(tmp_path / "big.py") == (
        f"big.py is larger than 256 KiB ({10 << 20} bytes); it was not run"
    )
    (tmp_path / "edge.py").write_bytes(b"#" * MAX_SOLUTION)
    assert len(read_solution(tmp_path / "edge.py")) == MAX_SOLUTION


def test_a_symlinked_student_folder_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "lab.py").write_text("x = 1\n")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert _unusable(tmp_path / "alias" / "lab.py").startswith(
        "the folder of lab.py cannot be read"
    )


def test_entries_that_are_not_folders_become_refused_students(tmp_path: Path) -> None:
    lab = get("handshake")
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "handshake.py").write_text("x = 1\n")
    (tmp_path / "bob").symlink_to(tmp_path / "alice")
    (tmp_path / "carol").write_text("not a folder")
    (tmp_path / "bad name").mkdir()
    subs, skipped = discover(tmp_path, [lab])
    by_name = {s.student: s for s in subs}
    assert by_name["alice"].problem is None and by_name["alice"].path is not None
    assert by_name["bob"].problem == (
        "the student's entry bob is a symbolic link, not a folder; nothing in it was read"
    )
    assert by_name["bob"].path is None
    assert "carol is a regular file, not a folder" in (by_name["carol"].problem or "")
    assert skipped == []
    bad = next(s for s in subs if s.who is not None and s.who.name == "bad name")
    assert bad.student.startswith("bad-name-") and bad.problem is None


# ---- verdicts only from what was measured --------------------------------------------------


def ran(**kw: object) -> SandboxRun:
    r = SandboxRun(exit_code=0, usage=Usage(0.1, 1 << 20, 0, 0))
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_a_printed_memory_error_decides_nothing() -> None:
    limits = Limits()
    assert judge(ran(stderr="Traceback\nMemoryError\n"), limits) == (
        Verdict.SCORED,
        "ran to the end",
    )
    verdict, message = judge(ran(exit_code=1, stderr="MemoryError"), limits)
    assert (verdict, message) == (Verdict.RUNTIME_ERROR, "exited with status 1: MemoryError")
    oom = ran(exit_code=None, signal=9, usage=Usage(0.1, 256 << 20, 1, 0))
    assert judge(oom, limits)[0] is Verdict.MEMORY_LIMIT


def test_the_quoted_stderr_line_is_cleaned_and_capped() -> None:
    verdict, message = judge(ran(exit_code=2, stderr=f"x\n{NASTY_LINE}{'z' * 500}\n"), Limits())
    assert verdict is Verdict.RUNTIME_ERROR
    assert not UNSAFE & set(message) and "[2Kb]0;titlec31mdevilefgij" in message
    assert len(message) <= len("exited with status 2: ") + 200


# ---- untrusted text --------------------------------------------------------------------------


def test_text_keeps_what_people_read_and_drops_what_terminals_obey() -> None:
    assert text.block(NASTY) == "a[2Kb]0;titlec31mdevilefg\nhij\nk"
    assert text.line(NASTY) == "a[2Kb]0;titlec31mdevilefg hij k"
    assert text.block("tab\there\r\nnext") == "tab\there\nnext"
    assert text.line("x" * 50, 10) == "x" * 9 + "…"
    assert text.cell("=1+1") == "'=1+1" and text.cell("@SUM(A1)") == "'@SUM(A1)"
    assert text.cell("\x1b=cmd") == "'=cmd" and text.cell("ok") == "ok"


def _nasty_outcome() -> Outcome:
    from tcplab.exercise.kit import ScoredCheck

    check = ScoredCheck("t <b>", 1, 0, False, "why", "hint", f"detail <script>x</script> | {NASTY}")
    return Outcome(
        "erin", "handshake", "Handshake", Verdict.RUNTIME_ERROR, f"=boom <img src=x> {NASTY}",
        10, 0, checks=[check], stdout=f"<script>alert(1)</script>\n{NASTY}",
        stderr=f"</pre><h1>x</h1> ``` {NASTY}", ladder_text=f"<b>ladder</b> {NASTY}",
        flags=[f"flag {NASTY}"],
    )  # fmt: skip


def test_student_text_is_clean_in_every_file(tmp_path: Path) -> None:
    outputs.write_all(tmp_path, [_nasty_outcome()], {"labs": ["handshake"], "jobs": 1})
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_text()
            assert not UNSAFE & set(content), path.name
            assert "\\u001b" not in content and "\\u009b" not in content, path.name
    row = next(csv.DictReader((tmp_path / "gradebook.csv").open(newline="")))
    assert row["message"].startswith("'=boom")
    data = json.loads((tmp_path / "grade.json").read_text())
    assert data["outcomes"][0]["flags"] == [f"flag {text.block(NASTY)}"]


def test_report_md_renders_no_student_html(tmp_path: Path) -> None:
    outputs.write_all(tmp_path, [_nasty_outcome()], {"labs": ["handshake"], "jobs": 1})
    md = (tmp_path / "erin" / "report.md").read_text()
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    for tag in ("<script", "<img", "<h1>x", "<b>"):
        assert tag not in rendered, tag
    assert "&lt;script&gt;" in rendered


# ---- references ----------------------------------------------------------------------------


def test_a_reformatted_copy_of_the_reference_is_flagged() -> None:
    lab = get("handshake")
    src = lab.solution.read_bytes()
    assert copies.flags(src, lab)[0].startswith("identical to the reference solution of handshake")
    reformatted = b'"""Mine, all mine."""\n# honest\n' + src.replace(b"isn = 1000", b"isn=1000 # x")
    assert len(copies.flags(reformatted, lab)) == 1
    assert copies.flags(src.replace(b"isn = 1000", b"isn = 1001"), lab) == []


def test_naming_a_reference_is_flagged_but_not_in_a_comment() -> None:
    lab = get("handshake")
    assert copies.flags(b"import tcplab.labs.handshake.solution\n", lab)
    assert copies.flags(b"exec(open('/x/labs/handshake/solution.py').read())\n", lab)
    assert copies.flags(b"# my solution.py, unlike labs/x/ ones\nprint(1)\n", lab) == []
    assert copies.flags(b"x = '''", lab) == []  # does not tokenize: no crash


def test_labs_folders_inside_what_the_jail_shows_are_hidden(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    labs = venv / "lib" / "tcplab" / "labs"
    (labs / "handshake").mkdir(parents=True)
    (labs / "handshake" / "lab.toml").write_text("[lab]\ntitle = 'x'\n")
    outside = tmp_path / "course"
    outside.mkdir()
    assert hidden([labs, outside], [str(venv)]) == [f"hide:{labs}"]
    assert hidden([Path("/usr/share/course")], []) == ["hide:/usr/share/course"]
    # a folder holding a bound one is hidden lab by lab, never as a whole
    assert hidden([labs.parent.parent], [str(labs.parent)]) == []
    assert hidden([labs], [str(labs / "handshake" / "x")]) == []


# ---- ladder ---------------------------------------------------------------------------------


# ---- the proxy -------------------------------------------------------------------------------


def _call(sock: socket.socket) -> dict[str, object]:
    sock.sendall(b'{"op": "nope"}\n')
    return dict(json.loads(sock.makefile("rb").readline()))


def test_proxy_serves_a_few_connections_and_refuses_a_thousand(tmp_path: Path) -> None:
    before = threading.active_count()
    proxy = Proxy(tmp_path / "app.sock", os.getuid(), str(tmp_path / "none"), "10.0.0.1")
    held, refused = [], 0
    try:
        started = time.monotonic()
        for _ in range(1000):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(tmp_path / "app.sock"))
            reply = _call(s)
            if "at once" in str(reply.get("error")):
                refused += 1
                s.close()
            else:
                assert "does not offer 'nope'" in str(reply["error"])
                held.append(s)
        took = time.monotonic() - started
        assert (len(held), refused) == (MAX_CONNECTIONS, 1000 - MAX_CONNECTIONS)
        assert threading.active_count() - before <= MAX_CONNECTIONS + 1
        assert took < 10, took
        held.pop().close()
        time.sleep(0.1)
        again = socket.socket(socket.AF_UNIX)
        again.connect(str(tmp_path / "app.sock"))
        assert "does not offer" in str(_call(again)["error"])  # a freed slot is served again
        held.append(again)
    finally:
        for s in held:
            s.close()
        proxy.close()
    assert proxy.refused == 1000 - MAX_CONNECTIONS


@pytest.mark.parametrize("codec", ["hex", "rot13", "base64", "zlib_codec", "no-such-codec"])
def test_a_coding_line_naming_an_odd_codec_is_no_copy_and_no_crash(codec: str) -> None:
    source = f"# coding: {codec}\nprint('hi')\n".encode()
    assert copies.tokens(source) is None


@pytest.mark.parametrize("name", ["grade.json", "gradebook.csv", "JUnit.xml"])
def test_a_student_named_like_a_class_file_never_overwrites_it(tmp_path: Path, name: str) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / name).mkdir()
    subs, skipped = discover(tmp_path, [get("handshake")])
    assert sorted(s.who.name for s in subs if s.who) == sorted(["alice", name])
    other = next(s.student for s in subs if s.student != "alice")
    assert other.lower() not in {"grade.json", "gradebook.csv", "junit.xml"}
    assert skipped == []
