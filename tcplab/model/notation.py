"""Segment patterns in a compact tcpdump/packetdrill-like notation, with per-field wildcards.

    FLAGS SEQ[:END(LEN)] [ack ACK] [win WIN] [urg URG] [<OPTIONS>]

    S 0:0(0) win 65535 <mss 1460,sackOK,wscale 7>     a SYN, seq 0 relative to the sender's ISN
    S. 0:0(0) ack 1 <mss 1460,sackOK,TS val * ecr *,nop,wscale *>
    P. 1:6(5) ack 1                                     five bytes of data
    . *:*(0) ack 6 win *                                any seq, any window
    F. 1:1(0) ack 1 <*>                                 any options
    . 1:1(0) ack 1 <nop,nop,TS val 101 ecr echo>        echo the kernel's latest TS val
    . 1:1(0) ack 1 <nop,nop,TS val +0..+1000 ecr 101>   the kernel's TS val, from its first one
    . 1:1(0) ack 1 <nop,nop,sack 1001:1101>             a SACK block, relative as the ack is
    - 1:1(0)                                            no flags (packetdrill's '-'; also 'none')

FLAGS uses tcpdump's letters (S F R P U E W and '.' for ACK). SEQ and ACK are relative: a sender's seq to
its own ISN, an ack to the other side's ISN; SACK edges are relative to the same ISN as the ack. TS
numbers are absolute (the crafting side chooses its own), except those the kernel chose: `echo` (a
segment to send: the kernel's latest TS val) and signed `+N`, `-N`, `+LO..+HI` (relative to the
kernel's first TS val on the connection; a range only in an expect). In a pattern for what the
kernel must send, any number may be `*`, and `<*>` or an options list ending in `,*` allows options
not listed; a field left out is not checked. In a segment to send nothing may be a wildcard. Parsing
is pure; errors are ValueError with the reason and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tcplab.model.flags import Flags
from tcplab.model.segment import (
    MAX_OPTIONS,
    MAX_SACK_BLOCKS,
    Option,
    Segment,
    options_length,
    parse_options,
)
from tcplab.model.seqnum import relative, seq_add, signed
from tcplab.model.text import N_, Invalid

WILD = "*"
NO_FLAGS = ("-", "none")  # packetdrill's '-' and tcpdump's 'none': a segment with no flag set
# ASCII digits only: \d and int() would also take '٣' (and str.isdigit '²')
_SEQ_RE = re.compile(r"^(\*|[0-9]+)(?::(\*|[0-9]+)\((\*|[0-9]+)\))?$")
_OPT_WILD_RE = re.compile(r"\*")


@dataclass(frozen=True)
class KernelTs:
    """A TS number the kernel chose: its first TS val on the connection plus `lo`..`hi` (written
    `+N`, `-N` or `+LO..+HI`), or with `echo` its latest TS val (a segment to send echoes it)."""

    lo: int = 0
    hi: int = 0
    echo: bool = False

    def notation(self) -> str:
        if self.echo:
            return "echo"
        if self.lo == self.hi:
            return f"{self.lo:+d}"
        return f"{self.lo:+d}..{self.hi:+d}"


Value = int | KernelTs | None  # a number, a number the kernel chose, or a wildcard


@dataclass(frozen=True)
class Bases:
    """What a pattern's relative numbers are relative to, on one connection: `ack` the ISN the
    segment's ack is relative to (SACK blocks acknowledge the same data), `ts_first` and `ts_last`
    the kernel's first and latest TS val (None until it sent one)."""

    ack: int = 0
    ts_first: int | None = None
    ts_last: int | None = None

    def kernel_ts(self, ref: KernelTs) -> int:
        """The absolute TS number of `ref` (its `lo`); ValueError while the kernel sent none."""
        if ref.echo and self.ts_last is not None:
            return self.ts_last
        if not ref.echo and self.ts_first is not None:
            return (self.ts_first + ref.lo) % (1 << 32)
        raise Invalid(
            N_(
                "TS {ref} refers to the kernel's TS val, but the kernel has sent none on this conn yet"
            ),
            ref=ref.notation(),
        )


@dataclass(frozen=True)
class OptionPattern:
    """An option whose values may be wildcards (None) or numbers the kernel chose (KernelTs);
    a SACK option's values are its edges in order, relative to the ack's ISN."""

    kind: str
    values: tuple[Value, ...] = ()

    def matches(self, opt: Option, bases: Bases | None = None) -> bool:
        if opt.kind != self.kind:
            return False
        if not self.values:
            return True
        got = _option_numbers(opt, bases or Bases())
        return len(got) == len(self.values) and all(
            _value_matches(want, have, bases or Bases())
            for want, have in zip(self.values, got, strict=True)
        )

    def notation(self) -> str:
        vals = [_shown_value(v) for v in self.values]
        if self.kind == "TS":
            return f"TS val {vals[0]} ecr {vals[1]}"
        if self.kind == "sack":
            return "sack " + " ".join(
                f"{lo}:{hi}" for lo, hi in zip(vals[::2], vals[1::2], strict=True)
            )
        return " ".join([self.kind, *vals])


def _shown_value(v: Value) -> str:
    if v is None:
        return WILD
    return v.notation() if isinstance(v, KernelTs) else str(v)


def _option_numbers(opt: Option, bases: Bases) -> tuple[int, ...]:
    """An option's numbers as a pattern writes them: SACK edges relative to `bases.ack`."""
    if opt.kind == "sack":
        return tuple(relative(n, bases.ack) for block in opt.blocks() for n in block)
    if isinstance(opt.value, tuple):
        return tuple(v for v in opt.value if isinstance(v, int))
    if isinstance(opt.value, int):
        return (opt.value,)
    return ()


def _value_matches(want: Value, have: int, bases: Bases) -> bool:
    if want is None:
        return True
    if isinstance(want, int):
        return want == have
    if bases.ts_first is None:
        return False
    return want.lo <= signed(have, bases.ts_first) <= want.hi


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
            raise Invalid(N_("{what} is '*', but a segment to send needs a number"), what=what)
        return None
    if not (token.isascii() and token.isdigit()):
        raise Invalid(
            N_("{what} {token} is not a number (digits 0-9)"), what=what, token=repr(token[:20])
        )
    value = int(token) if len(token) <= 20 else limit
    if value >= limit:
        shown = token if len(token) <= 20 else token[:20] + "…"
        raise Invalid(
            N_("{what} {number} is too large (at most {most})"),
            what=what,
            number=shown,
            most=limit - 1,
        )
    return value


def _option_patterns(text: str, wild_ok: bool) -> tuple[tuple[OptionPattern, ...], bool]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    more = bool(parts) and parts[-1] == WILD
    if more:
        if not wild_ok:
            raise Invalid(N_("'<*>' is a wildcard, but a segment to send needs its options listed"))
        parts = parts[:-1]
    out = [_option_pattern(part, wild_ok) for part in parts]
    size = options_length(tuple(_stand_in(o) for o in out))
    if size > MAX_OPTIONS:
        raise Invalid(
            N_(
                "the options take {size} bytes; a TCP header holds at most {most} "
                "(RFC 9293 §3.1: data offset at most 15 words)"
            ),
            size=size,
            most=MAX_OPTIONS,
        )
    return tuple(out), more


def _option_pattern(part: str, wild_ok: bool) -> OptionPattern:
    if not part.isascii():
        raise Invalid(N_("option {option} has characters other than ASCII"), option=repr(part[:40]))
    words = part.split()
    low = [w.lower() for w in words]
    if low[:1] == ["ts"]:
        if len(words) != 5 or low[1] != "val" or low[3] != "ecr":
            raise Invalid(
                N_("bad timestamps option {option}; write e.g. TS val 100 ecr echo"),
                option=repr(part),
            )
        return OptionPattern(
            "TS", (_ts_value(words[2], "TS val", wild_ok), _ts_value(words[4], "TS ecr", wild_ok))
        )
    if low[:1] == ["sack"] and len(words) > 1:
        return OptionPattern("sack", _sack_values(words[1:], wild_ok))
    if WILD not in part:
        return _pattern_of(parse_options(part)[0])
    if not wild_ok:
        raise Invalid(
            N_("option {option} has a wildcard; a segment to send needs values"), option=repr(part)
        )
    opt = parse_options(_OPT_WILD_RE.sub("0", part))[0]
    values = tuple(None if t == WILD else int(t) for t in words if t == WILD or t.isdigit())
    return OptionPattern(opt.kind, values)


_TS_REL_RE = re.compile(r"^([+-][0-9]{1,10})(?:\.\.([+-][0-9]{1,10}))?$")


def _ts_value(token: str, what: str, wild_ok: bool) -> Value:
    """A TS number: N (absolute), * (expect), echo (send: the kernel's latest TS val), +N / -N
    or +LO..+HI (expect) relative to the kernel's first TS val on the conn."""
    if token.lower() == "echo":
        if wild_ok:
            raise Invalid(
                N_(
                    "{what} 'echo' is for a segment to send; in an expect write the kernel's "
                    "TS val relative to its first one, e.g. TS val +0..+1000"
                ),
                what=what,
            )
        return KernelTs(echo=True)
    m = _TS_REL_RE.match(token)
    if m is None:
        return _number(token, what, wild_ok)
    lo = int(m.group(1))
    hi = lo if m.group(2) is None else int(m.group(2))
    if m.group(2) is not None and not wild_ok:
        raise Invalid(
            N_("{what} {token} is a range; a segment to send needs one number"),
            what=what,
            token=token,
        )
    if not (-(1 << 31) <= lo <= hi < 1 << 31):
        raise Invalid(
            N_("{what} {token}: write +LO..+HI with LO <= HI, each within ±2^31"),
            what=what,
            token=token,
        )
    return KernelTs(lo, hi)


def _sack_values(blocks: list[str], wild_ok: bool) -> tuple[Value, ...]:
    if len(blocks) > MAX_SACK_BLOCKS:
        raise Invalid(
            N_("{count} SACK blocks; an option holds at most {most}"),
            count=len(blocks),
            most=MAX_SACK_BLOCKS,
        )
    out: list[Value] = []
    for block in blocks:
        left, colon, right = block.partition(":")
        if not colon:
            raise Invalid(
                N_("bad SACK block {block}; write LEFT:RIGHT, e.g. sack 1001:2001"),
                block=repr(block[:30]),
            )
        out += [_number(left, "SACK edge", wild_ok), _number(right, "SACK edge", wild_ok)]
    return tuple(out)


def _stand_in(p: OptionPattern) -> Option:
    """An option of the pattern's size (for the header's 40-byte limit)."""
    if p.kind == "sack":
        return Option("sack", tuple((0, 0) for _ in p.values[::2]))
    return Option(p.kind, (0, 0) if p.kind == "TS" else 0 if p.values else None)


def _pattern_of(opt: Option) -> OptionPattern:
    if opt.kind == "sack":
        return OptionPattern("sack", tuple(n for block in opt.blocks() for n in block))
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
            raise Invalid(N_("options must be one <...> list at the end, e.g. <mss 1460,wscale 7>"))
        options, more = _option_patterns(inner, wild_ok)
        src = head.strip()
    tokens = src.split()
    if not tokens:
        raise Invalid(N_("empty segment; write e.g. 'S 0:0(0)' or '. 1:1(0) ack 1'"))
    if tokens[0] == WILD:
        raise Invalid(N_("flags cannot be a wildcard; name them, e.g. 'S.' or 'R'"))
    flags = Flags(0) if tokens[0] in NO_FLAGS else Flags.parse(tokens[0])
    if len(tokens) < 2:
        raise Invalid(
            N_("{segment} has no sequence number; write e.g. '{flags} 0:0(0)'"),
            segment=repr(text.strip()),
            flags=tokens[0],
        )
    seq, length = _seq_field(tokens[1], wild_ok)
    fields = _keyword_fields(tokens[2:], wild_ok)
    if "ack" in fields and Flags.ACK not in flags:
        raise Invalid(
            N_("an ack number needs the ACK flag: write '{flags}.' instead"), flags=tokens[0]
        )
    if Flags.ACK in flags and "ack" not in fields and not wild_ok:
        raise Invalid(N_("a segment with ACK to send needs 'ack N'"))
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
        raise Invalid(
            N_("bad sequence field {field}; write SEQ or SEQ:END(LEN) in digits 0-9, e.g. 1:6(5)"),
            field=repr(token[:40]),
        )
    seq = _number(m.group(1), "seq", wild_ok)
    if m.group(2) is None:
        return seq, 0 if not wild_ok else None
    end = _number(m.group(2), "end", wild_ok)
    length = _number(m.group(3), "length", wild_ok, 1 << 16)
    if seq is not None and end is not None and length is not None and seq + length != end:
        raise Invalid(
            N_("{token}: END must be SEQ + LEN ({seq} + {length} = {end})"),
            token=token,
            seq=seq,
            length=length,
            end=seq + length,
        )
    if seq is None and end is not None and length is not None:
        raise Invalid(
            N_("{token}: a wildcard seq with a fixed end cannot match; use *:*({length})"),
            token=token,
            length=length,
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
            raise Invalid(
                N_("unknown field {field}; after SEQ come 'ack N', 'win N', 'urg N'"),
                field=repr(key),
            )
        if i + 1 >= len(tokens):
            raise Invalid(N_("{field} needs a value, e.g. '{name} 1'"), field=repr(key), name=key)
        if key in fields:
            raise Invalid(N_("{field} is given twice"), field=repr(key))
        fields[key] = _number(tokens[i + 1], key, wild_ok, limits[key])
        i += 2
    return fields


def format_segment(
    seg: Segment, seq_base: int | None, ack_base: int | None, ts_first: int | None = None
) -> str:
    """An observed segment in the same notation, numbers relative to the bases (when known);
    SACK blocks relative to `ack_base`, as the ack; with `ts_first` (the kernel's first TS val on
    the connection), its TS val also relative to that: 'TS val 3375127921 (+56) ecr 102'."""

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
        parts.append("<" + ",".join(option_text(o, ack_base, ts_first) for o in seg.options) + ">")
    return " ".join(parts)


def option_text(opt: Option, ack_base: int | None, ts_first: int | None) -> str:
    """An observed option as a pattern writes it (SACK edges relative, TS val also relative)."""
    if opt.kind != "TS" or ts_first is None or not isinstance(opt.value, tuple):
        return opt.notation(ack_base)
    val, ecr = opt.value
    assert isinstance(val, int)
    return f"TS val {val} ({signed(val, ts_first):+d}) ecr {ecr}"


def to_options(
    patterns: tuple[OptionPattern, ...], bases: Bases | None = None
) -> tuple[Option, ...]:
    """Concrete options from a pattern without wildcards (for a segment to send): SACK edges
    made absolute from `bases.ack`, the kernel's TS numbers filled in; ValueError where one is
    not known yet."""
    b = bases or Bases()
    out = []
    for p in patterns:
        if p.kind == "sack":
            edges = [seq_add(b.ack, _concrete(v, b)) for v in p.values]
            out.append(Option("sack", tuple(zip(edges[::2], edges[1::2], strict=True))))
        elif p.kind == "TS":
            val, ecr = (_concrete(v, b) for v in p.values)
            out.append(Option("TS", (val, ecr)))
        else:
            out.extend(parse_options(p.notation()))
    return tuple(out)


def _concrete(v: Value, bases: Bases) -> int:
    if v is None:
        raise Invalid(N_("a segment to send has no wildcards"))
    return bases.kernel_ts(v) if isinstance(v, KernelTs) else v
