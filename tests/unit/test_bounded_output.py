"""What tcplab shows is bounded and inert: a ladder lists at most SHOWN_FIRST + SHOWN_LAST segments,
text from files and solutions reaches no terminal as control characters, scenario files of any
shape are refused with a DefinitionError (never another exception), and user files are opened
without following symlinks or blocking on FIFOs."""

from __future__ import annotations

import io
import itertools
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from tcplab.cli.render import ladder
from tcplab.engine.report import SHOWN_FIRST, SHOWN_LAST, NoteRow, Report, SegmentRow, cap_rows
from tcplab.engine.scenario import KEYS, SCENARIO_KEYS, load
from tcplab.engine.seen import Seen
from tcplab.errors import DefinitionError
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.text import printable, shorten
from tcplab.userfile import Refused, check_folder, check_writable, open_output, read_bytes


def flood_report(n: int) -> Report:
    """n SYNs to a closed port and the kernel's n RST+ACKs, with a note between each pair."""
    report = Report("run flood", "ns1 10.77.0.1", "ns2 10.77.0.2")
    for i in range(n):
        syn = Segment(40000 + i, 9, Flags.SYN, seq=i)
        rst = Segment(9, 40000 + i, Flags.RST | Flags.ACK, seq=0, ack=i + 1, window=0)
        report.rows.append(SegmentRow(Seen(syn, "10.77.0.1", "10.77.0.2", i, False, True)))
        report.note(f"syn {i}")
        report.rows.append(SegmentRow(Seen(rst, "10.77.0.2", "10.77.0.1", i, True, True)))
    return report


def test_a_syn_flood_ladder_lists_the_first_and_last_segments_and_counts_the_rest() -> None:
    report = flood_report(5000)
    rows = report.shown_rows()
    segments = [r for r in rows if isinstance(r, SegmentRow)]
    assert len(segments) == SHOWN_FIRST + SHOWN_LAST
    notes = [r.text for r in rows if isinstance(r, NoteRow) and "not shown" in r.text]
    assert notes == [
        f"… {10000 - 250} segments not shown (see the pcap), with 4875 other rows between them"
    ]
    assert segments[0] is report.rows[0] and segments[-1] is report.rows[-1]
    as_json = json.dumps(report.to_json())
    assert len(as_json) < 200_000 and "segments not shown" in as_json
    out = Console(file=io.StringIO(), width=200, record=True)
    ladder(report, out=out)
    text = out.export_text()
    assert text.count("──▶") + text.count("◀──") == SHOWN_FIRST + SHOWN_LAST
    assert len(text) < 100_000


def test_a_capped_report_names_its_capture_and_counts_what_was_left_out() -> None:
    report = flood_report(1000)
    short = report.capped("handshake.pcap")
    assert report.segment_count() == 2000 and short.segment_count() == SHOWN_FIRST + SHOWN_LAST
    assert short.to_json()["info"]["segments_not_shown"] == 2000 - 250
    assert any(
        isinstance(r, NoteRow)
        and r.text.startswith("… 1750 segments not shown (see handshake.pcap)")
        for r in short.rows
    )
    assert short.capped("x.pcap") is short  # capping twice changes nothing


def test_a_short_ladder_is_left_whole() -> None:
    report = flood_report((SHOWN_FIRST + SHOWN_LAST) // 2)
    assert report.shown_rows() == report.rows
    first = cap_rows(report.rows, 0, 0)[0]
    assert isinstance(first, NoteRow) and first.text.startswith("… 250 segments not shown")


def test_control_characters_become_visible_escapes() -> None:
    hostile = "ok\x1b[2K\x1b]0;title\x07\r\x08\x9b\u202eevil\ttab\nline"
    assert printable(hostile) == "ok\\x1b[2K\\x1b]0;title\\x07\\r\\x08\\x9b\\u202eevil\ttab\nline"
    assert printable(hostile, one_line=True).count("\n") == 0
    assert shorten("x" * 10, 5) == "xxxx…" and shorten("abc", 5) == "abc"


VALUES = [
    "1",
    "-1",
    "1.5",
    "nan",
    "inf",
    "true",
    '"x"',
    '"S 0"',
    "[1, 2]",
    "[]",
    "{a = 1}",
    "1979-05-27",
    "0x" + "f" * 60,
    '"' + "a" * 3000 + '"',
    '"\\u001b[2J"',
    '"[/]"',
    "[[1]]",
]
# every key the format has, taken from the loader itself: a new key is fuzzed without editing this
HEAD_KEYS = sorted(SCENARIO_KEYS)
STEP_KEYS = sorted(set().union(*KEYS.values()))
STEPS = [
    'app = "listen"',
    'send = "S 0"',
    'expect = "S. 0:0(0) ack 1"',
    'expect_state = "LISTEN"',
    "sleep = 0.1",
    'app = "setsockopt"\nname = "TCP_NODELAY"',
]


def test_any_value_for_any_key_is_loaded_or_refused_with_a_definition_error(tmp_path: Path) -> None:
    texts = [
        f'[scenario]\ntitle = "t"\n{k} = {v}\n[[step]]\napp = "listen"\n'
        for k, v in itertools.product(HEAD_KEYS, VALUES)
    ]
    texts += [
        f'[scenario]\ntitle = "t"\n[[step]]\napp = "listen"\n[[step]]\n{s}\n{k} = {v}\n'
        for s, k, v in itertools.product(STEPS, STEP_KEYS, VALUES)
    ]
    path = tmp_path / "s.toml"
    refused = 0
    for text in texts:
        path.write_text(text)
        try:
            load(path)
        except DefinitionError as exc:
            refused += 1
            assert len(exc.message) < 400, exc.message
    assert refused > len(texts) // 2


def test_user_files_are_never_followed_or_waited_for(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "real").write_text("secret")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for name, reason in [("fifo", "a FIFO"), ("link", "a symbolic link"), (".", "a folder")]:
        with pytest.raises(Refused, match=reason):
            read_bytes(str(tmp_path / name), 100)
        with pytest.raises(Refused, match=reason):
            check_writable(str(tmp_path / name))
    with pytest.raises(Refused, match="a FIFO"):
        open_output(str(tmp_path / "fifo"))
    with pytest.raises(Refused, match="a symbolic link"):
        open_output(str(tmp_path / "link"))
    assert (tmp_path / "real").read_text() == "secret"
    with pytest.raises(Refused, match="larger than 3 bytes"):
        read_bytes(str(tmp_path / "real"), 3)
    with pytest.raises(Refused, match="not a folder"):
        check_folder(str(tmp_path / "real"))
    check_writable(str(tmp_path / "new"))
    check_folder(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link", "real"]
    with open_output(str(tmp_path / "real")) as out:
        out.write(b"new")
    assert (tmp_path / "real").read_bytes() == b"new"


@pytest.mark.parametrize(
    "step",
    [
        'app = "accept"\ntimeout = 1e9',
        'app = "accept"\ntimeout = nan',
        'app = "accept"\ntimeout = -1',
        'app = "listen"\nport = 0',
        'app = "listen"\nport = 99999999',
        'app = "recv"\nbytes = 4611686018427387904',
        'expect = "R"\ndelay = [0, inf]',
        'expect = "R"\ndelay = [nan, 1]',
    ],
)
def test_an_app_argument_or_delay_out_of_range_is_refused_at_load(
    tmp_path: Path, step: str
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[scenario]\ntitle = "t"\n[[step]]\napp = "listen"\n[[step]]\n{step}\n')
    with pytest.raises(DefinitionError):
        load(path)


def test_write_output_writes_the_file_and_refuses_in_words(tmp_path):
    from tcplab.userfile import Refused, write_output

    path = tmp_path / "out.svg"
    path.write_bytes(b"an older, longer picture")
    write_output(str(path), b"<svg/>")
    assert path.read_bytes() == b"<svg/>"  # emptied first
    for bad, why in ((tmp_path, "a folder"), (tmp_path / "no" / "x.svg", "No such file")):
        with pytest.raises(Refused) as err:
            write_output(str(bad), b"x")
        assert why in str(err.value) and str(bad) in str(err.value)
