"""Checks: an expectation from the model compared with what the kernel did, as data.

A kernel that answers differently is not an exception but a finding: expected, observed and why, with
the rule's source. Every field is compared, so every mismatch is reported, not only the first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tcplab.model.flags import Flags
from tcplab.model.notation import SegmentPattern
from tcplab.model.rules import Expectation
from tcplab.model.segment import Segment
from tcplab.model.seqnum import relative


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    expected: str
    observed: str
    why: str
    source: str = ""
    linux_note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def match_pattern(
    pattern: SegmentPattern,
    seg: Segment,
    what: str,
    why: str,
    source: str = "",
    linux_note: str = "",
    seq_base: int = 0,
    ack_base: int = 0,
) -> list[Check]:
    """Every field of `seg` against the pattern: one check for the flags, one per field the pattern
    fixes, so every mismatch is reported. Numbers are compared relative to the bases."""
    common = {"why": why, "source": source, "linux_note": linux_note}
    checks = [
        Check(
            f"{what} is {pattern.flags.names}",
            seg.flags == pattern.flags,
            pattern.flags.names,
            seg.flags.names,
            **common,
        )
    ]
    fields: list[tuple[str, int | None, int]] = [
        ("seq", pattern.seq, relative(seg.seq, seq_base)),
        ("length", pattern.length, len(seg.payload)),
        ("window", pattern.window, seg.window),
        ("urgent pointer", pattern.urgptr, seg.urgptr),
    ]
    if Flags.ACK in pattern.flags and Flags.ACK in seg.flags:
        fields.insert(1, ("ack", pattern.ack, relative(seg.ack, ack_base)))
    for name, want, got in fields:
        if want is not None:
            checks.append(
                Check(f"{name} of {what} is {want}", got == want, str(want), str(got), **common)
            )
    if pattern.options is not None:
        checks.append(_options_check(pattern, seg, what, common))
    return checks


def _options_check(
    pattern: SegmentPattern, seg: Segment, what: str, common: dict[str, str]
) -> Check:
    got = [o for o in seg.options if o.kind not in ("nop", "eol")]
    want = [o for o in pattern.options or () if o.kind not in ("nop", "eol")]
    missing = [w.notation() for w in want if not any(w.matches(o) for o in got)]
    extra = (
        []
        if pattern.more_options
        else [o.notation() for o in got if not any(w.matches(o) for w in want)]
    )
    ok = not missing and not extra
    shown = ",".join(o.notation() for o in seg.options) or "none"
    expected = ",".join([w.notation() for w in want] + (["*"] if pattern.more_options else []))
    observed = (
        shown
        if ok
        else f"{shown} (missing: {', '.join(missing) or '-'}; "
        f"not expected: {', '.join(extra) or '-'})"
    )
    return Check(f"options of {what}", ok, expected or "none", observed, **common)


def check_answer(exp: Expectation, reply: Segment | None, what: str) -> list[Check]:
    """Compare the kernel's reply to `what` (e.g. 'the SYN') with the model's expected answer."""
    common = {"source": exp.source, "linux_note": exp.linux_note}
    if not exp.predicted:
        return []  # nothing to check: the caller shows the reply and says why it is not predicted
    if exp.silence:
        got = "no reply" if reply is None else f"{reply.flags.names} seq {reply.seq}"
        return [Check(f"no answer to {what}", reply is None, "no reply", got, exp.why, **common)]
    pattern = exp.pattern()
    assert pattern is not None
    if reply is None:
        return [Check(f"answer to {what}", False, exp.describe(), "no reply", exp.why, **common)]
    return match_pattern(
        pattern, reply, f"the answer to {what}", exp.why, exp.source, exp.linux_note
    )


def fact(
    name: str,
    ok: bool,
    expected: object,
    observed: object,
    why: str,
    source: str = "",
    linux_note: str = "",
) -> Check:
    """A check of anything else: a socket's state, a queue, a timer, an option."""
    return Check(name, ok, str(expected), str(observed), why, source, linux_note)
