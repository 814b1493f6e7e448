"""TCP segments as plain values, and their tcpdump-like notation.

Field names match scapy's (`sport`, `dport`, `seq`, `ack`, `flags`, `window`), so tcplab.wire converts
without a mapping table. Flags are a `Flags` value (tcplab.model.flags); `notation()` shows them as
tcpdump does: `S`, `S.`, `.`, `P.`, `F.`, `R`, `R.` (`.` is ACK).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tcplab.model.flags import Flags
from tcplab.model.seqnum import relative, seq_add, signed
from tcplab.model.text import N_, Invalid


@dataclass(frozen=True)
class Option:
    """One TCP option, by tcpdump's name: mss, wscale, sackOK, TS, sack, nop, eol."""

    kind: str
    value: int | tuple[int, int] | tuple[tuple[int, int], ...] | None = None

    def notation(self, ack_base: int | None = None) -> str:
        """packetdrill-like text; SACK blocks relative to `ack_base` (the ISN the segment's ack is
        relative to: blocks acknowledge the same data as the ack), absolute without it."""
        if self.kind == "TS":
            assert isinstance(self.value, tuple)
            return f"TS val {self.value[0]} ecr {self.value[1]}"
        if self.kind == "sack":
            return "sack " + " ".join(
                f"{_rel(lo, ack_base)}:{_rel(hi, ack_base)}" for lo, hi in self.blocks()
            )
        if self.value is None:
            return self.kind
        return f"{self.kind} {self.value}"

    def blocks(self) -> tuple[tuple[int, int], ...]:
        """A SACK option's blocks (left edge, right edge), absolute; () for another option."""
        if self.kind != "sack" or not isinstance(self.value, tuple):
            return ()
        return tuple(b for b in self.value if isinstance(b, tuple))


def _rel(value: int, base: int | None) -> int:
    return value if base is None else relative(value, base)


MAX_SACK_BLOCKS = 4  # 2 + 8 * 4 = 34 option bytes (RFC 2018 §3); 3 beside a timestamp
_SACK_RE = re.compile(r"^sack((?: [0-9]{1,10}:[0-9]{1,10})+)$", re.I)
_OPTION_RE = {
    "mss": re.compile(r"^mss (\d+)$", re.I),
    "wscale": re.compile(r"^wscale (\d+)$", re.I),
    "TS": re.compile(r"^ts val (\d+) ecr (\d+)$", re.I),
}


def parse_options(text: str) -> tuple[Option, ...]:
    """'mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7' -> options; raise ValueError on anything else."""
    text = text.strip().strip("<>[]").strip()
    if not text:
        return ()
    out: list[Option] = []
    for part in (p.strip() for p in text.split(",")):
        low = part.lower()
        if low in ("sackok", "nop", "eol"):
            out.append(Option({"sackok": "sackOK"}.get(low, low)))
            continue
        sack = _SACK_RE.match(" ".join(part.split()))
        if sack:
            out.append(_sack_option(sack.group(1)))
            continue
        for kind, rx in _OPTION_RE.items():
            m = rx.match(part)
            if m:
                out.append(_checked_option(kind, [int(g) for g in m.groups()]))
                break
        else:
            raise Invalid(
                N_(
                    "unknown TCP option {option}; use mss N, wscale N, sackOK, TS val N ecr N, "
                    "sack L:R [L:R ...], nop, eol"
                ),
                option=repr(part),
            )
    return tuple(out)


def _sack_option(text: str) -> Option:
    """' 1001:2001 3001:4001' -> a SACK option (RFC 2018); each edge in 32 bits, at most four."""
    pairs = [tuple(int(n) for n in b.split(":")) for b in text.split()]
    if len(pairs) > MAX_SACK_BLOCKS:
        raise Invalid(
            N_("{count} SACK blocks; an option holds at most {most}"),
            count=len(pairs),
            most=MAX_SACK_BLOCKS,
        )
    for n in (n for pair in pairs for n in pair):
        if n >= 1 << 32:
            raise Invalid(N_("SACK edge {number} does not fit in 32 bits"), number=n)
    return Option("sack", tuple((lo, hi) for lo, hi in pairs))


def _checked_option(kind: str, nums: list[int]) -> Option:
    if kind == "mss":
        if not 0 <= nums[0] <= 0xFFFF:
            raise Invalid(N_("mss {number} does not fit in 16 bits"), number=nums[0])
        return Option("mss", nums[0])
    if kind == "wscale":
        if not 0 <= nums[0] <= 255:
            raise Invalid(
                N_("wscale {number} does not fit in 8 bits (RFC 7323 allows 0-14)"), number=nums[0]
            )
        return Option("wscale", nums[0])
    for n in nums:
        if not 0 <= n < 1 << 32:
            raise Invalid(N_("timestamp {number} does not fit in 32 bits"), number=n)
    return Option("TS", (nums[0], nums[1]))


@dataclass(frozen=True)
class Segment:
    """A TCP segment: header fields and payload, with no addresses (the path says who sent it)."""

    sport: int
    dport: int
    flags: Flags
    seq: int = 0
    ack: int = 0
    window: int = 64240
    options: tuple[Option, ...] = ()
    payload: bytes = b""
    urgptr: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.flags, Flags):  # letters from a course's own code: "SA"
            object.__setattr__(self, "flags", Flags.from_letters(str(self.flags)))

    @property
    def seg_len(self) -> int:
        """Sequence space this segment occupies: payload, +1 for SYN, +1 for FIN (RFC 9293 §3.4)."""
        return len(self.payload) + (Flags.SYN in self.flags) + (Flags.FIN in self.flags)

    @property
    def end_seq(self) -> int:
        return seq_add(self.seq, self.seg_len)

    def option(self, kind: str) -> Option | None:
        return next((o for o in self.options if o.kind == kind), None)

    def timestamps(self) -> tuple[int, int] | None:
        """(TS val, TS ecr) of the timestamps option, if present (RFC 7323)."""
        opt = self.option("TS")
        if opt is None or not isinstance(opt.value, tuple):
            return None
        val, ecr = opt.value
        assert isinstance(val, int) and isinstance(ecr, int)
        return val, ecr

    def notation(self, seq_base: int | None = None, ack_base: int | None = None) -> str:
        """tcpdump-like text; with bases, seq/ack are shown absolute and (relative)."""
        parts = [f"[{self.flags.tcpdump}]", f"seq {_num(self.seq, seq_base)}"]
        if Flags.ACK in self.flags:
            parts.append(f"ack {_num(self.ack, ack_base)}")
        parts.append(f"win {self.window}")
        if Flags.URG in self.flags:
            parts.append(f"urg {self.urgptr}")
        if self.options:
            parts.append("<" + ",".join(o.notation(ack_base) for o in self.options) + ">")
        parts.append(f"len {len(self.payload)}")
        return " ".join(parts)


def _num(value: int, base: int | None) -> str:
    return str(value) if base is None else f"{value} ({signed(value, base)})"


_OPTION_SIZE = {"mss": 4, "wscale": 3, "sackOK": 2, "TS": 10, "nop": 1, "eol": 1}
MAX_OPTIONS = 40  # the data offset field allows 60 header bytes: 20 fixed + 40 of options
LAB_MTU = 1500


def options_length(options: tuple[Option, ...]) -> int:
    """Bytes the options take in the header, padded to a multiple of 4."""
    n = 0
    for o in options:
        if o.kind == "sack":
            assert isinstance(o.value, tuple)
            n += 2 + 8 * len(o.value)
        else:
            n += _OPTION_SIZE[o.kind]
    return (n + 3) // 4 * 4


def check_fits(options: tuple[Option, ...], payload: bytes) -> None:
    """ValueError unless the options fit a TCP header and the segment fits the lab's MTU."""
    opt = options_length(options)
    if opt > MAX_OPTIONS:
        raise Invalid(
            N_("the options take {size} bytes; a TCP header holds at most {most}"),
            size=opt,
            most=MAX_OPTIONS,
        )
    room = LAB_MTU - 20 - 20 - opt
    if len(payload) > room:
        raise Invalid(
            N_(
                "{size} bytes of data do not fit one segment on the testbed's link "
                "(at most {room} with these options, MTU {mtu})"
            ),
            size=len(payload),
            room=room,
            mtu=LAB_MTU,
        )
