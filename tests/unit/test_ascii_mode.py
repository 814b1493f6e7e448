"""ASCII mode (TCPLAB_ASCII=1 or --ascii): for CJK terminals that show ambiguous-width characters
two columns wide, tcplab writes each as one ASCII character, so its layouts keep their width."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from tcplab import text
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]


def _ambiguous(s: str) -> set[str]:
    return {c for c in s if unicodedata.east_asian_width(c) == "A"}


def test_every_ambiguous_character_tcplab_writes_has_an_ascii_stand_in_of_the_same_width():
    used: set[str] = set()
    for path in [*(REPO / "tcplab").rglob("*.py"), *(REPO / "labs").rglob("*.py")]:
        used |= _ambiguous(path.read_text(encoding="utf-8"))
    for path in (REPO / "tcplab" / "locale").glob("*/LC_MESSAGES/tcplab.po"):
        used |= _ambiguous(path.read_text(encoding="utf-8"))
    missing = {c for c in used if len(text.ascii_only(c)) != 1 or not text.ascii_only(c).isascii()}
    assert not missing, sorted(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in missing)


def test_ascii_only_keeps_chinese_and_the_width():
    line = "──▶ │ 三次握手 §3.5 …"
    assert text.ascii_only(line) == "--> | 三次握手 S3.5 ~"
    assert text.columns(text.ascii_only(line)) == text.columns(line)


def test_cut_text_ends_with_three_dots_in_ascii_mode():
    try:
        text.use_ascii()
        assert text.clip("中文中文中文", 7) == "中文..."
        assert text.shorten("abcdefgh", 6) == "abc..."
    finally:
        text.use_ascii(False)
    assert text.clip("中文中文中文", 7) == "中文中…"


def test_a_command_in_ascii_mode_writes_no_ambiguous_character():
    for args in (["states"], ["--ascii", "states"], ["--ascii", "--help"]):
        env_ascii = args[0] != "--ascii"
        env = dict(os.environ, TCPLAB_ASCII="1") if env_ascii else None
        out = run_cli(*args, env=env)
        assert out.returncode == 0, out.stderr
        assert not _ambiguous(out.stdout + out.stderr), args
    plain = run_cli("states")
    assert _ambiguous(plain.stdout), "tcplab draws with them by default"
