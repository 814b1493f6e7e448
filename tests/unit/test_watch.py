"""tcplab watch's pure part: a growing exchange laid out as the one ladder, and a pipe given each
step once, from recorded lab runs replayed as if they were happening (no root)."""

from __future__ import annotations

import io
import os
from dataclasses import replace

import pytest
from rich.console import Console

from tcplab.cli import watchcmd
from tcplab.engine.ladder import Change, Ladder, Lane, Step
from tcplab.engine.report import How, Side
from tcplab.exercise.recording import Recording
from tcplab.exercise.watch import SETTLE, Shown, Watched
from tests.conftest import run_cli
from tests.labcases import recorded

LABS = ["handshake", "rst", "state-tour", "time-wait", "port-reuse", "syn-backlog"]


def _watched(rec: Recording, upto: float | None = None) -> Watched:
    """What watch had seen of the recorded run by `upto` (None: all of it)."""

    def by(t: float) -> bool:
        return upto is None or t <= upto

    return Watched(
        rec.kernel_addr,
        rec.hosts,
        rec.ports[0],
        0.0,
        rec.sysctls,
        [s for s in rec.seen if by(s.time)],
        {k: [s for s in v if by(s.time)] for k, v in rec.samples.items()},
        [s for s in rec.listener if by(s.time)],
        [e for e in rec.events if by(e.time)],
    )


def _load(lab: str) -> Recording:
    return Recording.load(recorded(lab, "reference"))


def _changes(steps: list[Step] | tuple[Step, ...]) -> list[tuple[str, str, str, str]]:
    return [(_port(s.conn), c.side.value, c.before, c.after) for s in steps for c in s.changes]


def test_watched_lays_out_a_handshake_as_the_lab_check_does() -> None:
    ladder = _watched(_load("handshake")).ladder()
    arrows = [s.arrow.text.split()[0] for s in ladder.steps if s.arrow is not None]
    assert arrows == ["S", "S.", "."]
    kernel = [c for s in ladder.steps for c in s.changes if c.side.value == "kernel"]
    assert [(c.before, c.after) for c in kernel] == [
        ("LISTEN", "SYN_RECEIVED"),
        ("SYN_RECEIVED", "ESTABLISHED"),
    ]
    synack = ladder.steps[1].arrow
    assert synack is not None and synack.cause.startswith("your segment 1 (S)")


def test_absolute_numbers_on_request() -> None:
    watched = _watched(_load("handshake"))
    relative = watched.ladder().steps[0].arrow
    absolute = watched.ladder(relative=False).steps[0].arrow
    assert relative is not None and absolute is not None
    assert relative.fields[0] == "seq +0"
    assert absolute.fields[0] == f"seq {watched.seen[0].segment.seq}"


@pytest.mark.parametrize("lab", LABS)
def test_a_pipe_gets_every_step_once_as_the_run_happens(lab: str) -> None:
    """Refreshed every 20 ms as the recorded run unfolds, the steps handed out are the final
    ladder's arrows, in order, each once, and each state change once."""
    rec = _load(lab)
    shown = Shown()
    printed: list[Step] = []
    first, last = rec.seen[0].time, rec.seen[-1].time
    t = first
    while t < last + 2 * SETTLE:
        watched = _watched(rec, t)
        since = watched.since_first(t)
        printed += shown.fresh(watched.ladder(), None if since is None else since - SETTLE)
        t += 0.02
    final = _watched(rec).ladder()
    printed += shown.fresh(final, None, final=True)
    named = final if final.several else _labelled(final)
    arrows = [(_port(s.conn), s.arrow.text) for s in printed if s.arrow is not None]
    assert arrows == [(_port(s.conn), s.arrow.text) for s in named.steps if s.arrow is not None]
    assert sorted(_changes(printed)) == sorted(_changes(named.steps))
    assert all(s.conn for s in printed if s.arrow is not None)  # each names its connection
    assert shown.fresh(final, None, final=True) == []


def _port(label: str) -> str:
    """A step's crafting port in its label (":57829", or ":57829⇄:7788" once there are two
    kernel ports: a label grows as connections come)."""
    return label.split("⇄")[0]


def _labelled(ladder: Ladder) -> Ladder:
    """One connection's ladder with each of its steps named as a pipe names them."""
    c = ladder.conns[0]
    steps = tuple(
        replace(s, conn=f":{c.crafting_port}") if s.arrow is not None or s.changes else s
        for s in ladder.steps
    )
    return replace(ladder, steps=steps)


def _ladder(*steps: Step) -> Ladder:
    you, kernel = Lane("you", "ns1", "10.77.0.1"), Lane("kernel", "ns2", "10.77.0.2")
    return Ladder(you, kernel, (), steps)


def test_a_change_that_comes_to_a_printed_step_gets_a_line_of_its_own() -> None:
    change = Change(Side.KERNEL, "LISTEN", "SYN_RECEIVED", How.OBSERVED)
    step = Step(0.001, text="a step")
    shown = Shown()
    assert shown.fresh(_ladder(step), 1.0) == [step]
    later = replace(step, changes=(change,))
    assert shown.fresh(_ladder(later), 1.0) == [Step(0.001, changes=(change,))]
    assert shown.fresh(_ladder(later), 1.0) == []


def test_only_settled_steps_are_handed_out_until_the_end() -> None:
    early, note, late = Step(0.1, text="early"), Step(None, text="note"), Step(0.9, text="late")
    shown = Shown()
    assert shown.fresh(_ladder(early, note, late), None) == []
    assert shown.fresh(_ladder(early, note, late), 0.5) == [early]
    assert shown.fresh(_ladder(early, note, late), 0.5, final=True) == [note, late]


def test_piped_watch_prints_each_step_once_then_the_states() -> None:
    rec = _load("handshake")
    buf = io.StringIO()
    con = Console(file=buf, width=200, highlight=False, soft_wrap=True)
    pipe = watchcmd._Pipe(con, absolute=False)
    first = rec.seen[0].time
    for t in (first - 0.5, first + 0.003, first + 1.0, first + 2.0):
        pipe.show(_watched(rec, t), t)
    pipe.end(_watched(rec))
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("watching tcplab-check-")
    body = "\n".join(lines[1:])
    for text in (":42495 S seq +0", ":42495 S. seq +0 ack +1", ":42495 . seq +1 ack +1"):
        assert body.count(text) == 1, body
    listen, synack, ack = (_line(lines, text) for text in (" ms ", " S. seq", " . seq"))
    assert lines[listen].endswith("│ LISTEN")
    assert lines[synack].endswith("│ SYN_RECEIVED") and lines[ack].endswith("│ ESTABLISHED")
    assert lines[-1].startswith("kernel (tcplab-check-") and "ESTABLISHED" in lines[-1]


def _line(lines: list[str], text: str) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


@pytest.mark.parametrize(
    ("args", "code", "phrase"),
    [
        (["--for", "nan"], 2, "--for nan is not a number"),
        (["--for", "0"], 2, "too short"),
        (["--target", "ns2"], 2, "has no port"),
        (["--target", "tlwnosuch:7788"], 3, "tlwnosuch"),
    ],
)
def test_watch_refuses_bad_input_with_one_error_and_a_hint(
    args: list[str], code: int, phrase: str
) -> None:
    out = run_cli("watch", *args)
    if phrase == "tlwnosuch" and os.geteuid() != 0:
        code, phrase = 3, "watch needs root"  # asked before the testbeds are read
    # a namespace no testbed has: usage (2) when there are testbeds, environment (3) when none
    assert out.returncode == code or (phrase == "tlwnosuch" and out.returncode == 2), out.stderr
    assert phrase in out.stderr
    assert out.stderr.count("error:") == 1 and "hint:" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_screen_shows_the_latest_lines_that_fit_and_the_states_now() -> None:
    watched = _watched(_load("port-reuse"))
    con = Console(file=io.StringIO(), width=80, height=16)
    with con.capture() as cap:
        con.print(watchcmd.frame(con, watched))
    lines = cap.get().splitlines()
    assert len(lines) <= 16
    assert lines[0].startswith("watching tcplab-check-")
    assert any("earlier lines" in line for line in lines[1:3])
    assert all(len(line) <= 80 for line in lines)
    last = next(s.arrow for s in reversed(watched.ladder().steps) if s.arrow is not None)
    assert last is not None
    assert any(f"{last.flags} {last.fields[0]}" in line for line in lines)
    assert any(line.startswith("kernel (tcplab-check-") for line in lines)


def _flood(rec: Recording, n: int, every: float) -> Recording:
    """`rec`'s connection made again `n` times, from ports 20000 on, `every` seconds apart."""
    seen = []
    for i in range(n):
        for s in rec.seen:
            seg = s.segment
            moved = (
                replace(seg, dport=20000 + i) if s.from_kernel else replace(seg, sport=20000 + i)
            )
            seen.append(replace(s, segment=moved, time=s.time + i * every))
    return replace(rec, seen=seen, samples={})


def test_a_pipe_prints_every_segment_of_a_long_run_once() -> None:
    """600 segments in 2 s, more than a ladder shows (SHOWN_FIRST + SHOWN_LAST): piped, every one
    is printed, once, with the header once and no note of segments left out."""
    rec = _flood(_load("handshake"), 200, 0.01)
    buf = io.StringIO()
    pipe = watchcmd._Pipe(Console(file=buf, width=100, highlight=False), absolute=False)
    t, last = rec.seen[0].time, rec.seen[-1].time
    while t < last + 1:
        pipe.show(_watched(rec, t), t)
        t += 0.25
    pipe.end(_watched(rec))
    out = buf.getvalue()
    for port in (20000, 20123, 20199):
        for text in (f":{port} S seq +0", f":{port} S. seq +0 ack +1", f":{port} . seq +1"):
            assert out.count(text) == 1, text
    assert sum(" S. seq +0 ack +1" in line for line in out.splitlines()) == 200
    assert out.count("kernel 10.77.0.2") == 1 and "not shown" not in out
