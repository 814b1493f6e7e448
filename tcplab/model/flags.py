"""TCP's control bits as an IntFlag, read from and shown as letters (RFC 9293 §3.1, RFC 3168 §6.1).

Theory of operation: inside tcplab flags are a `Flags` value and are tested with flag operations
(`Flags.ACK in seg.flags`, `seg.flags == Flags.SYN | Flags.ACK`). Text exists only at the edges:
`Flags.parse` reads what a person writes (scapy's letters F S R P A U E C in any order and case,
tcpdump's `.` for ACK and `W` for CWR, or names such as SYN,ACK); `letters` is scapy's spelling in its
canonical order (`SA`), `tcpdump` the spelling of tcpdump and tcplab's ladder (`S.`), `names` the
words of an explanation (`SYN+ACK`). The bit values are the header's, so the conversion to scapy, or
to the wire, is `int(flags)`.
"""

from __future__ import annotations

import re
from enum import IntFlag

from tcplab.model.text import N_, Invalid


class Flags(IntFlag):
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80

    @classmethod
    def parse(cls, text: str) -> Flags:
        """'sa', 'AS', 'S.' or 'SYN,ACK' -> SYN|ACK; ValueError for empty text or a letter
        that is no flag."""
        raw = text.strip().upper()
        if not raw:
            raise Invalid(N_("empty flags; use letters from FSRPAUEC, e.g. S, SA, FA, R, PA"))
        out = cls(0)
        for word in (w for w in re.split(r"[,+| ]+", raw) if w):
            if word in cls.__members__:
                out |= cls[word]
                continue
            for ch in word:
                flag = _BY_LETTER.get(ch)
                if flag is None:
                    raise Invalid(
                        N_(
                            "unknown TCP flag {letter} in {text}; use letters from FSRPAUEC"
                            " (or tcpdump's '.' for ACK), e.g. S, SA, FA, R, PA"
                        ),
                        letter=repr(ch),
                        text=repr(text),
                    )
                out |= flag
        return out

    @classmethod
    def from_letters(cls, text: str) -> Flags:
        """Like `parse`, but '' is no flags (a segment may carry none)."""
        return cls.parse(text) if text else cls(0)

    @classmethod
    def from_bits(cls, value: int) -> Flags:
        """The flags of a header's eight flag bits; ValueError for any other bit (NS, reserved)."""
        if not 0 <= value <= 0xFF:
            raise Invalid(N_("flag bits {bits} outside the eight of FSRPAUEC"), bits=f"{value:#x}")
        return cls(value)

    @property
    def letters(self) -> str:
        """scapy's letters in canonical order: 'SA', 'FPA', '' for none."""
        return "".join(letter for flag, letter, _, _ in _TABLE if flag in self)

    @property
    def tcpdump(self) -> str:
        """tcpdump's spelling, ACK as a trailing '.': 'S.', '.', 'FP.', 'none' for no flags."""
        if not self:
            return "none"
        shown = "".join(mark for flag, _, mark, _ in _TABLE if flag in self and flag != Flags.ACK)
        return shown + ("." if Flags.ACK in self else "")

    @property
    def names(self) -> str:
        """'SYN+ACK', 'no flags' for none."""
        return "+".join(name for flag, _, _, name in _TABLE if flag in self) or "no flags"

    # A course's own checks.py written before flags were typed compares them with letters
    # (`seg.flags == "SA"`, `"S" in seg.flags`); both keep their old meaning.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                return int(self) == int(Flags.from_letters(other))
            except ValueError:
                return False
        return int.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = IntFlag.__hash__

    def __contains__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                want = Flags.from_letters(other)
            except ValueError:
                return False
            return (self & want) == want  # "" is in any flags, as in a string
        return isinstance(other, Flags) and (self & other) == other

    def __str__(self) -> str:
        return self.letters

    def __format__(self, spec: str) -> str:
        return format(self.letters, spec)


# (flag, scapy's letter, tcpdump's letter, name), in the header's bit order
_TABLE: tuple[tuple[Flags, str, str, str], ...] = (
    (Flags.FIN, "F", "F", "FIN"),
    (Flags.SYN, "S", "S", "SYN"),
    (Flags.RST, "R", "R", "RST"),
    (Flags.PSH, "P", "P", "PSH"),
    (Flags.ACK, "A", ".", "ACK"),
    (Flags.URG, "U", "U", "URG"),
    (Flags.ECE, "E", "E", "ECE"),
    (Flags.CWR, "C", "W", "CWR"),
)
_BY_LETTER: dict[str, Flags] = {
    **{letter: flag for flag, letter, _, _ in _TABLE},
    ".": Flags.ACK,
    "W": Flags.CWR,
}
