"""Checks: an expectation from the model compared with what the kernel did, as data.

A kernel that answers differently is not an exception but a finding: expected, observed and why, with
the rule's source. Every field is compared, so every mismatch is reported, not only the first.

Pure: checks are made from model segments and patterns, never from sockets or packets. A check is
built with keywords only (seven strings in a row are too easy to put in the wrong order).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tcplab.engine.predicted import Predicted
from tcplab.model.flags import Flags
from tcplab.model.notation import Bases, SegmentPattern, option_text
from tcplab.model.segment import Segment
from tcplab.model.seqnum import relative


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    expected: str
    observed: str
    why: str
    source: str = ""
    linux_note: str = ""
    prediction: Predicted | None = field(default=None, compare=False)  # the model's, if any

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "prediction"}
        if self.prediction is not None:
            out["prediction"] = self.prediction.to_json()
        return out


def match_pattern(
    pattern: SegmentPattern,
    seg: Segment,
    what: str,
    *,
    why: str,
    source: str = "",
    linux_note: str = "",
    seq_base: int = 0,
    ack_base: int = 0,
    ts_first: int | None = None,
) -> list[Check]:
    """Every field of `seg` against the pattern: one check for the flags, one per field the pattern
    fixes, so every mismatch is reported. Numbers are compared relative to the bases (SACK edges
    as the ack; a TS number the kernel chose to its first TS val, `ts_first`)."""
    common: dict[str, Any] = {"why": why, "source": source, "linux_note": linux_note}
    checks = [
        Check(
            name=f"{what} is {pattern.flags.names}",
            ok=seg.flags == pattern.flags,
            expected=pattern.flags.names,
            observed=seg.flags.names,
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
                Check(
                    name=f"{name} of {what} is {want}",
                    ok=got == want,
                    expected=str(want),
                    observed=str(got),
                    **common,
                )
            )
    if pattern.options is not None:
        checks.append(_options_check(pattern, seg, what, Bases(ack_base, ts_first), common))
    return checks


def _options_check(
    pattern: SegmentPattern, seg: Segment, what: str, bases: Bases, common: dict[str, Any]
) -> Check:
    got = [o for o in seg.options if o.kind not in ("nop", "eol")]
    want = [o for o in pattern.options or () if o.kind not in ("nop", "eol")]
    missing = [w.notation() for w in want if not any(w.matches(o, bases) for o in got)]
    extra = (
        []
        if pattern.more_options
        else [
            option_text(o, bases.ack, bases.ts_first)
            for o in got
            if not any(w.matches(o, bases) for w in want)
        ]
    )
    ok = not missing and not extra
    shown = _options_shown(seg, bases)
    expected = ",".join([w.notation() for w in want] + (["*"] if pattern.more_options else []))
    observed = (
        shown
        if ok
        else f"{shown} (missing: {', '.join(missing) or '-'}; "
        f"not expected: {', '.join(extra) or '-'})"
    )
    return Check(
        name=f"options of {what}",
        ok=ok,
        expected=expected or "none",
        observed=observed,
        **common,
    )


def _options_shown(seg: Segment, bases: Bases) -> str:
    """The segment's options as a pattern writes them: SACK edges relative, and the kernel's TS
    val also relative to its first one ('TS val 3375014999 (+2) ecr 100')."""
    return ",".join(option_text(o, bases.ack, bases.ts_first) for o in seg.options) or "none"


def check_answer(pred: Predicted, reply: Segment | None, what: str) -> list[Check]:
    """Compare the kernel's reply to `what` (e.g. 'the SYN') with the model's prediction; each check
    carries the prediction. Where they disagree, `why` is the finding ("tcplab's model predicted X
    (rule R, RFC …); the kernel did Y")."""
    p = pred.prediction.pattern
    agrees = reply is None if p is None else reply is not None and pred.matches(reply)
    if pred.agrees is None:  # not decided by an Explainer: decided here
        pred.decide(agrees, "nothing" if reply is None else reply.notation())
    because: dict[str, Any] = {
        "why": pred.prediction.why if agrees else pred.finding(),
        "source": pred.prediction.rfc,
        "linux_note": pred.prediction.linux,
    }
    if p is None:
        got = "no reply" if reply is None else f"{reply.flags.names} seq {reply.seq}"
        return [
            Check(
                name=f"no answer to {what}",
                ok=reply is None,
                expected="no reply",
                observed=got,
                prediction=pred,
                **because,
            )
        ]
    if reply is None:
        return [
            Check(
                name=f"answer to {what}",
                ok=False,
                expected=_described(p),
                observed="no reply",
                prediction=pred,
                **because,
            )
        ]
    checks = match_pattern(p, reply, f"the answer to {what}", **because)
    return [replace(c, prediction=pred) for c in checks]


def _described(p: SegmentPattern) -> str:
    """'SYN+ACK ack 1001': the predicted segment with the numbers the model knows."""
    parts = [p.flags.names]
    parts += [
        f"{name} {value}" for name, value in (("seq", p.seq), ("ack", p.ack)) if value is not None
    ]
    return " ".join(parts)


def fact(
    *,
    name: str,
    ok: bool,
    expected: object,
    observed: object,
    why: str,
    source: str = "",
    linux_note: str = "",
    prediction: Predicted | None = None,
) -> Check:
    """A check of anything else (a socket's state, a queue, a timer, an option): expected and
    observed are shown as text."""
    return Check(
        name=name,
        ok=ok,
        expected=str(expected),
        observed=str(observed),
        why=why,
        source=source,
        linux_note=linux_note,
        prediction=prediction,
    )
