"""Checks: an expectation from the model compared with what the kernel did, as data.

A kernel that answers differently is not an exception but a finding: expected, observed and why, with
the rule's source. Every field is compared, so every mismatch is reported, not only the first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tcplab.model.rules import Expectation
from tcplab.model.segment import Segment, flag_names


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


def check_answer(exp: Expectation, reply: Segment | None, what: str) -> list[Check]:
    """Compare the kernel's reply to `what` (e.g. 'the SYN') with the expected answer."""
    common = {"source": exp.source, "linux_note": exp.linux_note}
    if not exp.predicted:
        got = "no reply" if reply is None else flag_names(reply.flags)
        return [Check(f"answer to {what}", True, "no prediction", got, exp.why, **common)]
    if exp.silence:
        got = "no reply" if reply is None else f"{flag_names(reply.flags)} seq {reply.seq}"
        return [Check(f"no answer to {what}", reply is None, "no reply", got, exp.why, **common)]
    if reply is None:
        return [Check(f"answer to {what}", False, exp.describe(), "no reply", exp.why, **common)]
    checks = [
        Check(
            f"{what} is answered with {flag_names(exp.flags or '')}",
            exp.flags is None or reply.flags == exp.flags,
            flag_names(exp.flags or ""),
            flag_names(reply.flags),
            exp.why,
            **common,
        )
    ]
    for field in ("seq", "ack"):
        want = getattr(exp, field)
        if want is None:
            continue
        got = getattr(reply, field)
        checks.append(
            Check(
                f"{field} of the answer to {what} is {want}",
                got == want,
                str(want),
                str(got),
                exp.why,
                **common,
            )
        )
    return checks


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
