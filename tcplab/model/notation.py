"""Segment patterns in a compact tcpdump/packetdrill-like notation, with per-field wildcards.

    FLAGS SEQ[:END(LEN)] [ack ACK] [win WIN] [urg URG] [<OPTIONS>]

    S 0:0(0) win 65535 <mss 1460,sackOK,wscale 7>     a SYN, seq 0 relative to the sender's ISN
    S. 0:0(0) ack 1 <mss 1460,sackOK,TS val * ecr *,nop,wscale *>
    P. 1:6(5) ack 1                                     five bytes of data
    . *:*(0) ack 6 win *                                any seq, any window
    F. 1:1(0) ack 1 <*>                                 any options

FLAGS uses tcpdump's letters (S F R P U E W and '.' for ACK). SEQ and ACK are relative: a sender's seq to
its own ISN, an ack to the other side's ISN. In a pattern for what the kernel must send, any number may
be `*`, and `<*>` or an options list ending in `,*` allows options not listed; a field left out is not
checked. In a segment to send nothing may be a wildcard. Parsing is pure; errors are ValueError with the
reason and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tcplab.model.flags import Flags
from tcplab.model.segment import (
    MAX_OPTIONS,
    Option,
    Segment,
    options_length,
    parse_options,
)

WILD = "*"
# ASCII digits only: \d and int() would also take '٣' (and str.isdigit '²')
_SEQ_RE = re.compile(r"^(\*|[0-9]+)(?::(\*|[0-9]+)\((\*|[0-9]+)\))?$")
_OPT_WILD_RE = re.compile(r"\*")


@dataclass(frozen=True)
class OptionPattern:
    """An option whose values may be wildcards (None)."""

    kind: str
    values: tuple[int | None, ...] = ()

    def matches(self, opt: Option) -> bool:
        if opt.kind != self.kind:
            return False
        if not self.values:
            return True
        got: tuple[int, ...]
        if isinstance(opt.value, tuple):
            got = tuple(v for v in opt.value if isinstance(v, int))
        elif isinstance(opt.value, int):
            got = (opt.value,)
        else:
            got = ()
        return len(got) == len(self.values) and all(
            want is None or want == have for want, have in zip(self.values, got, strict=True)
        )

    def notation(self) -> str:
        vals = ["*" if v is None else str(v) for v in self.values]
        if self.kind == "TS":
            return f"TS val {vals[0]} ecr {vals[1]}"
        return " ".join([self.kind, *vals])


@dataclass(frozen=True)
class SegmentPattern:
    """A segment with optional fields: None means "any" (a wildcard, or not given)."""

    flags: Flags
    seq: int | None = None
    length: int | None = None
    ack: int | None = None
    window: int | None = None
    urgptr: int | None = None
    options: tuple[OptionPattern, ...] | None = None  # None: options not checked
    more_options: bool = False  # options not listed are allowed
    text: str = ""


def _number(token: str, what: str, wild_ok: bool, limit: int = 1 << 32) -> int | None:
    if token == WILD:
        if not wild_ok:
            raise ValueError(f"{what} is '*', but a segment to send needs a number")
        return None
    if not (token.isascii() and token.isdigit()):
        raise ValueError(f"{what} {token[:20]!r} is not a number (digits 0-9)")
    value = int(token) if len(token) <= 20 else limit
    if value >= limit:
        shown = token if len(token) <= 20 else token[:20] + "…"
        raise ValueError(f"{what} {shown} is too large (at most {limit - 1})")
    return value


def _option_patterns(text: str, wild_ok: bool) -> tuple[tuple[OptionPattern, ...], bool]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    more = bool(parts) and parts[-1] == WILD
    if more:
        if not wild_ok:
            raise ValueError("'<*>' is a wildcard, but a segment to send needs its options listed")
        parts = parts[:-1]
    out = []
    concrete: list[Option] = []
    for part in parts:
        if not part.isascii():
            raise ValueError(f"option {part[:40]!r} has characters other than ASCII")
        if WILD in part:
            if not wild_ok:
                raise ValueError(f"option {part!r} has a wildcard; a segment to send needs values")
            opt = parse_options(_OPT_WILD_RE.sub("0", part))[0]
            tokens = part.split()
            values = tuple(
                None if t == WILD else int(t) for t in tokens if t == WILD or t.isdigit()
            )
            out.append(OptionPattern(opt.kind, values))
        else:
            opt = parse_options(part)[0]
            out.append(_pattern_of(opt))
        concrete.append(opt)
    size = options_length(tuple(concrete))
    if size > MAX_OPTIONS:
        raise ValueError(
            f"the options take {size} bytes; a TCP header holds at most {MAX_OPTIONS} "
            "(RFC 9293 §3.1: data offset at most 15 words)"
        )
    return tuple(out), more


def _pattern_of(opt: Option) -> OptionPattern:
    if isinstance(opt.value, tuple):
        return OptionPattern(opt.kind, tuple(v for v in opt.value if isinstance(v, int)))
    if isinstance(opt.value, int):
        return OptionPattern(opt.kind, (opt.value,))
    return OptionPattern(opt.kind)


def parse_pattern(text: str, wild_ok: bool) -> SegmentPattern:
    """Parse the notation; `wild_ok` is True for what the kernel must send, False for what we send."""
    src = text.strip()
    options: tuple[OptionPattern, ...] | None = None
    more = False
    if "<" in src:
        head, _, rest = src.partition("<")
        inner, close, tail = rest.partition(">")
        if not close or tail.strip():
            raise ValueError("options must be one <...> list at the end, e.g. <mss 1460,wscale 7>")
        options, more = _option_patterns(inner, wild_ok)
        src = head.strip()
    tokens = src.split()
    if not tokens:
        raise ValueError("empty segment; write e.g. 'S 0:0(0)' or '. 1:1(0) ack 1'")
    if tokens[0] == WILD:
        raise ValueError("flags cannot be a wildcard; name them, e.g. 'S.' or 'R'")
    flags = Flags.parse(tokens[0])
    if len(tokens) < 2:
        raise ValueError(
            f"{text.strip()!r} has no sequence number; write e.g. '{tokens[0]} 0:0(0)'"
        )
    seq, length = _seq_field(tokens[1], wild_ok)
    fields = _keyword_fields(tokens[2:], wild_ok)
    if "ack" in fields and Flags.ACK not in flags:
        raise ValueError(f"an ack number needs the ACK flag: write '{tokens[0]}.' instead")
    if Flags.ACK in flags and "ack" not in fields and not wild_ok:
        raise ValueError("a segment with ACK to send needs 'ack N'")
    return SegmentPattern(
        flags,
        seq,
        length,
        fields.get("ack"),
        fields.get("win"),
        fields.get("urg"),
        options,
        more,
        text.strip(),
    )


def _seq_field(token: str, wild_ok: bool) -> tuple[int | None, int | None]:
    m = _SEQ_RE.match(token)
    if not m:
        raise ValueError(
            f"bad sequence field {token[:40]!r}; write SEQ or SEQ:END(LEN) in digits 0-9, e.g. 1:6(5)"
        )
    seq = _number(m.group(1), "seq", wild_ok)
    if m.group(2) is None:
        return seq, 0 if not wild_ok else None
    end = _number(m.group(2), "end", wild_ok)
    length = _number(m.group(3), "length", wild_ok, 1 << 16)
    if seq is not None and end is not None and length is not None and seq + length != end:
        raise ValueError(f"{token}: END must be SEQ + LEN ({seq} + {length} = {seq + length})")
    if seq is None and end is not None and length is not None:
        raise ValueError(
            f"{token}: a wildcard seq with a fixed end cannot match; use *:*({length})"
        )
    if length is None and seq is not None and end is not None:
        length = end - seq
    return seq, length


def _keyword_fields(tokens: list[str], wild_ok: bool) -> dict[str, int | None]:
    limits = {"ack": 1 << 32, "win": 1 << 16, "urg": 1 << 16}
    fields: dict[str, int | None] = {}
    i = 0
    while i < len(tokens):
        key = tokens[i]
        if key not in limits:
            raise ValueError(f"unknown field {key!r}; after SEQ come 'ack N', 'win N', 'urg N'")
        if i + 1 >= len(tokens):
            raise ValueError(f"{key!r} needs a value, e.g. '{key} 1'")
        if key in fields:
            raise ValueError(f"{key!r} is given twice")
        fields[key] = _number(tokens[i + 1], key, wild_ok, limits[key])
        i += 2
    return fields


def format_segment(seg: Segment, seq_base: int | None, ack_base: int | None) -> str:
    """An observed segment in the same notation, numbers relative to the bases (when known)."""

    def rel(value: int, base: int | None) -> int:
        return value if base is None else (value - base) % (1 << 32)

    seq = rel(seg.seq, seq_base)
    parts = [seg.flags.tcpdump, f"{seq}:{seq + len(seg.payload)}({len(seg.payload)})"]
    if Flags.ACK in seg.flags:
        parts.append(f"ack {rel(seg.ack, ack_base)}")
    parts.append(f"win {seg.window}")
    if Flags.URG in seg.flags:
        parts.append(f"urg {seg.urgptr}")
    if seg.options:
        parts.append("<" + ",".join(o.notation() for o in seg.options) + ">")
    return " ".join(parts)


def to_options(patterns: tuple[OptionPattern, ...]) -> tuple[Option, ...]:
    """Concrete options from a pattern without wildcards (for a segment to send)."""
    return parse_options(",".join(p.notation() for p in patterns))
