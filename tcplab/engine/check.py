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
from tcplab.engine.words import Said, model_text, phrase, said, why_text
from tcplab.i18n import N_, _
from tcplab.model.flags import Flags
from tcplab.model.notation import Bases, SegmentPattern, option_text
from tcplab.model.segment import Segment
from tcplab.model.seqnum import relative


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    expected: str  # a Said where the value is words: --json gives its English key
    observed: str
    why: str
    source: str = ""
    linux_note: str = ""
    prediction: Predicted | None = field(default=None, compare=False)  # the model's, if any
    key: str = ""  # the name in English, where `name` is translated: what --json calls it

    def to_json(self) -> dict[str, Any]:
        skip = ("prediction", "key")
        out = {
            k: v.key if isinstance(v, Said) else v for k, v in vars(self).items() if k not in skip
        }
        if self.key and self.key != self.name:  # the name people read, beside the English key
            out["name"], out["shown"] = self.key, self.name
        if self.prediction is not None:
            out["prediction"] = self.prediction.to_json()
        return out


def match_pattern(
    pattern: SegmentPattern,
    seg: Segment,
    what: str | Said,
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
    name = said(N_("{what} is {flags}"), what=what, flags=pattern.flags.names)
    checks = [
        Check(
            name=name.text,
            key=name.key,
            ok=seg.flags == pattern.flags,
            expected=pattern.flags.names,
            observed=seg.flags.names,
            **common,
        )
    ]
    fields: list[tuple[str, int | None, int]] = [
        (N_("seq of {what} is {want}"), pattern.seq, relative(seg.seq, seq_base)),
        (N_("length of {what} is {want}"), pattern.length, len(seg.payload)),
        (N_("window of {what} is {want}"), pattern.window, seg.window),
        (N_("urgent pointer of {what} is {want}"), pattern.urgptr, seg.urgptr),
    ]
    if Flags.ACK in pattern.flags and Flags.ACK in seg.flags:
        fields.insert(1, (N_("ack of {what} is {want}"), pattern.ack, relative(seg.ack, ack_base)))
    for message, want, got in fields:
        if want is not None:
            name = said(message, what=what, want=want)
            checks.append(
                Check(
                    name=name.text,
                    key=name.key,
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
    pattern: SegmentPattern, seg: Segment, what: str | Said, bases: Bases, common: dict[str, Any]
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
        else _("{shown} (missing: {missing}; not expected: {extra})").format(
            shown=shown, missing=", ".join(missing) or "-", extra=", ".join(extra) or "-"
        )
    )
    name = said(N_("options of {what}"), what=what)
    return Check(
        name=name.text,
        key=name.key,
        ok=ok,
        expected=expected or phrase(N_("none")),
        observed=observed,
        **common,
    )


def _options_shown(seg: Segment, bases: Bases) -> str:
    """The segment's options as a pattern writes them: SACK edges relative, and the kernel's TS
    val also relative to its first one ('TS val 3375014999 (+2) ecr 100')."""
    return ",".join(option_text(o, bases.ack, bases.ts_first) for o in seg.options) or _("none")


def check_answer(pred: Predicted, reply: Segment | None, what: str | Said) -> list[Check]:
    """Compare the kernel's reply to `what` (e.g. 'the SYN') with the model's prediction; each check
    carries the prediction. Where they disagree, `why` is the finding ("tcplab's model predicted X
    (rule R, RFC …); the kernel did Y")."""
    p = pred.prediction.pattern
    agrees = reply is None if p is None else reply is not None and pred.matches(reply)
    if pred.agrees is None:  # not decided by an Explainer: decided here
        pred.decide(agrees, "nothing" if reply is None else reply.notation())
    because: dict[str, Any] = {
        "why": why_text(pred.prediction) if agrees else pred.finding(),
        "source": pred.prediction.rfc,
        "linux_note": model_text(pred.prediction.linux),
    }
    if p is None:
        got = _("no reply") if reply is None else f"{reply.flags.names} seq {reply.seq}"
        name = said(N_("no answer to {what}"), what=what)
        return [
            Check(
                name=name.text,
                key=name.key,
                ok=reply is None,
                expected=phrase(N_("no reply")),
                observed=got,
                prediction=pred,
                **because,
            )
        ]
    if reply is None:
        name = said(N_("answer to {what}"), what=what)
        return [
            Check(
                name=name.text,
                key=name.key,
                ok=False,
                expected=_described(p),
                observed=phrase(N_("no reply")),
                prediction=pred,
                **because,
            )
        ]
    answer = said(N_("the answer to {what}"), what=what)
    checks = match_pattern(p, reply, answer, **because)
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
    name: str | Said,
    ok: bool,
    expected: object,
    observed: object,
    why: str,
    source: str = "",
    linux_note: str = "",
    prediction: Predicted | None = None,
) -> Check:
    """A check of anything else (a socket's state, a queue, a timer, an option): expected and
    observed are shown as text. A Said name, expected or observed is shown translated, its
    English kept for --json."""
    return Check(
        name=str(name),
        key=name.key if isinstance(name, Said) else "",
        ok=ok,
        expected=expected if isinstance(expected, Said) else str(expected),
        observed=observed if isinstance(observed, Said) else str(observed),
        why=why,
        source=source,
        linux_note=linux_note,
        prediction=prediction,
    )
