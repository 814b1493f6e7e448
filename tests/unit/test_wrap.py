"""Text at 80 columns: display width, wrapping with a hanging indent, handouts reflowed, and the
renderers (ladder rows, checks, socket table) fitted to the console's width."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tcplab.cli.render import checks, segment_text, socket_table
from tcplab.cli.wrap import UNLIMITED, page_width, para, reflow, width
from tcplab.engine.check import Check
from tcplab.model.state import State
from tcplab.netns.diag import SocketRow
from tcplab.text import MAY_BREAK, columns, keep, wrap


def test_wide_characters_take_two_columns_and_combining_marks_none() -> None:
    assert columns("seq 1000") == 8
    assert columns("全连接队列") == 10
    assert columns("Ａ") == 2  # fullwidth
    assert columns("é") == 1  # e + combining acute
    assert columns("✓ ✗ ⇄ ──▶") == 9


def test_forty_chinese_characters_fill_exactly_eighty_columns() -> None:
    text = "全连接队列溢出时内核丢弃第三次握手的确认" * 2  # 40 characters
    assert len(text) == 40
    assert wrap(text, 80) == [text]
    lines = wrap(text + "满", 80)
    assert [columns(line) for line in lines] == [80, 2]


def test_chinese_text_breaks_between_characters_never_before_its_punctuation() -> None:
    text = "内核收到了你的确认，" * 6
    lines = wrap(text, 30, "> ")
    assert all(columns(line) <= 30 for line in lines)
    assert not any(line.lstrip("> ").startswith("，") for line in lines)
    assert "".join(line[2:] for line in lines) == text


def test_continuation_lines_hang_under_the_text() -> None:
    text = (
        "your ACK acknowledges the kernel's SYN: your ack was ISN+0 where the kernel expected ISN+1"
    )
    lines = wrap(text, 40, "  ✗ 0/3  ")
    assert lines[0].startswith("  ✗ 0/3  your ACK")
    assert all(line.startswith(" " * 9) and line[9] != " " for line in lines[1:])
    assert all(columns(line) <= 40 for line in lines)
    assert " ".join(line.strip() for line in lines).endswith(text)


def test_a_number_stays_with_the_word_before_it() -> None:
    lines = wrap("the kernel answered with seq 3719038605 and port 7788 today", 32)
    assert "seq 3719038605" in "\n".join(lines)
    assert not any(line.split()[0].isdigit() for line in lines)


def test_no_line_starts_with_an_operator_like_a_list_item() -> None:
    lines = wrap("ack = its seq + its length (a SYN counts one), window 0 and so on", 17)
    assert not any(line.lstrip()[0] in "+-=" for line in lines)


def test_a_kept_segment_moves_whole_to_the_next_line() -> None:
    seg = keep("[S.] seq 1000 (0) ack 2000 (1) win 65160 len 0")
    lines = wrap(f"expected {seg}, got nothing", 50)
    assert lines == ["expected", "[S.] seq 1000 (0) ack 2000 (1) win 65160 len 0,", "got nothing"]


def test_a_kept_run_longer_than_a_line_breaks_inside_rather_than_overflow() -> None:
    lines = wrap(keep("a b c d e f g h i j k l m n o p"), 10)
    assert all(columns(line) <= 10 for line in lines) and len(lines) == 4


def test_a_word_longer_than_a_line_is_cut_by_columns() -> None:
    lines = wrap("/tmp/" + "x" * 100, 30, "error: ", "       ")
    assert all(columns(line) <= 30 for line in lines)
    assert "".join(line.strip() for line in lines) == "error: /tmp/" + "x" * 100


def test_a_zero_width_space_may_break_and_is_not_shown() -> None:
    lines = wrap(f"<mss 1460,{MAY_BREAK}sackOK,{MAY_BREAK}wscale 7>", 12)
    assert lines == ["<mss 1460,", "sackOK,", "wscale 7>"]


def test_own_newlines_stay_and_trailing_spaces_go() -> None:
    assert wrap("one  \ntwo", 80, "- ") == ["- one", "  two"]
    assert wrap("", 80, "x ") == ["x"]


def test_a_deep_indent_leaves_the_text_twenty_columns() -> None:
    lines = wrap("word " * 20, 40, " " * 35)
    assert all(columns(line) <= 40 for line in lines[1:])


def test_width_is_columns_else_eighty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert width() == 100
    monkeypatch.setenv("COLUMNS", "12")
    assert width() == 40  # too narrow to read: laid out for 40
    monkeypatch.delenv("COLUMNS")
    assert width() == UNLIMITED  # pytest's stdout is not a terminal: lines left whole
    assert page_width() == 80  # but a handout is a page


def _console(cols: int = 80) -> Console:
    return Console(file=io.StringIO(), width=cols, record=True, highlight=False, soft_wrap=True)


def _lines(con: Console) -> list[str]:
    return con.export_text().splitlines()


def test_para_keeps_each_part_s_style_across_its_lines() -> None:
    con = Console(file=io.StringIO(), width=30, force_terminal=True, color_system="standard")
    para(con, [("a title that is long enough ", "bold"), ("(and a detail)", "dim")], " ✓ 1/1  ")
    out = con.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[1m" in out and "\x1b[2m" in out
    con = _console(30)
    para(con, [("a title that is long enough ", "bold"), ("(and a detail)", "dim")], " ✓ 1/1  ")
    assert _lines(con) == [" ✓ 1/1  a title that is long", "        enough (and a detail)"]


def test_para_shows_markup_as_text() -> None:
    con = _console()
    para(con, "[red]not markup[/] \\")
    assert _lines(con) == ["[red]not markup[/] \\"]


def test_a_segment_s_options_break_between_options_only() -> None:
    text = segment_text(
        "[S.] seq 372087263 (0) ack 4258510769 (1) win 65160 "
        "<mss 1460,sackOK,TS val 2546985588 ecr 32482131,nop,wscale 10> len 0"
    )
    lines = wrap(text, 80, " " * 26)
    assert all(columns(line) <= 80 for line in lines)
    joined = "\n".join(lines)
    for whole in ("seq 372087263 (0)", "ack 4258510769 (1)", "TS val 2546985588 ecr 32482131"):
        assert whole in joined


def test_checks_wrap_under_their_text_at_80() -> None:
    long = "a listener answers a SYN with SYN+ACK, ack = seq + 1: " * 4
    items = [
        Check(
            name="ack of the answer to the SYN is 4258510769",
            ok=True,
            expected="4258510769",
            observed="4258510769",
            why=long,
        ),
        Check(
            name="the kernel answered", ok=False, expected="[S.] seq 1 ack 1", observed="R", why="w"
        ),
    ]
    con = _console()
    checks(items, out=con)
    lines = _lines(con)
    assert max(columns(line) for line in lines) <= 80
    assert lines[0] == " ✓ ack of the answer to the SYN is 4258510769"
    assert all(line.startswith("     ") for line in lines[1:-3])
    assert " ✗ the kernel answered: expected [S.] seq 1 ack 1, got R" in lines


def _row(state: State, src: str, dst: str, dport: int, timer: str = "off") -> SocketRow:
    return SocketRow(state, 1, src, 7788, dst, dport, timer, 59999, 2, 0, 128, 1)


def test_the_socket_table_fits_80_with_the_longest_addresses_never_broken() -> None:
    rows = [
        _row(State.SYN_RECEIVED, "10.77.0.2", "10.77.0.1", 40123, "on"),
        _row(State.TIME_WAIT, "192.168.100.200", "192.168.100.201", 65535, "timewait"),
        _row(State.LISTEN, "0.0.0.0", "0.0.0.0", 0),
    ]
    for cols in (120, 80, 60, 40):
        con = _console(cols)
        socket_table(rows, "TCP sockets in tcplab-test-1234abcd-k", out=con)
        text = con.export_text()
        assert max(columns(line) for line in text.splitlines()) <= cols, text
        for whole in ("192.168.100.200:7788", "192.168.100.201:65535", "SYN-RECV", "59.999s"):
            assert whole in text, (cols, text)
    con = _console(120)
    socket_table(rows, "t", out=con)
    assert len(_lines(con)) == 5  # title, header, one line per socket


HANDOUT = """# Lab 9 — a title

**Goal.** A paragraph written long, as handouts are, with a `code span that should stay` whole and
more words after it so that it needs to wrap at least once or twice at forty columns.

1. A numbered step that is long enough to wrap onto a second line at forty columns.
   Its own continuation line.
- a bullet

```
a code line that is longer than forty columns and must stay as it is
```

| a | table row that is longer than forty columns stays as written |
|---|---|

> a quote that is long enough to wrap at forty columns, and
> its second line
"""


def test_a_handout_reflows_prose_and_keeps_code_and_tables() -> None:
    lines = reflow(HANDOUT, 40)
    code = "a code line that is longer than forty columns and must stay as it is"
    table = "| a | table row that is longer than forty columns stays as written |"
    assert code in lines and table in lines
    prose = [line for line in lines if line not in (code, table)]
    assert max(columns(line) for line in prose) <= 40
    assert "`code span that should stay`" in "\n".join(lines)
    step = lines.index(next(line for line in lines if line.startswith("1. ")))
    assert lines[step + 1].startswith("   ") and lines[step + 2].startswith("   ")
    assert "- a bullet" in lines
    quote = [line for line in lines if line.startswith(">")]
    assert len(quote) >= 2 and all(columns(line) <= 40 for line in quote)


def test_narrow_punctuation_after_a_wide_character_never_opens_a_line():
    from tcplab.text import wrap

    text = "x" * 70 + " " + "随机产生" + ")."
    for cols in range(72, 80):
        for line in wrap(text, cols):
            assert not line.lstrip().startswith(")"), (cols, line)


def test_clip_and_pad_count_terminal_columns_not_characters():
    from tcplab import text

    assert text.clip("王小明同学", 6) == "王小…" and text.columns(text.clip("王小明同学", 6)) == 5
    assert text.clip("alice", 8) == "alice"
    assert text.pad("李 雷", 8) == "李 雷   " and text.columns(text.pad("x" * 200, 28)) == 28


def test_an_opening_bracket_or_quote_never_ends_a_line():
    text = "这是一个很长的句子（括号里的内容）和「引号」结束。"
    for cols in range(8, 30):
        lines = wrap(text, cols)
        assert "".join(lines) == text
        assert not any(line.endswith(("（", "「")) for line in lines), (cols, lines)
        assert not any(line.startswith(("）", "」", "。")) for line in lines), (cols, lines)


def test_a_chinese_paragraph_broken_across_source_lines_is_joined_without_a_space():
    lines = reflow("这是第一行的内容\n接着是第二行，with English\nand more。", 80)
    assert lines == ["这是第一行的内容接着是第二行，with English and more。"]
