"""One prediction of tcplab's model as a run keeps it: its cause, and whether the kernel agreed.

Theory of operation: a driver asks the model's Endpoint what the kernel will send after a crafted
segment, an application call or a timer, and keeps the answer here with the step that caused it and
when. A kernel segment the capture sees is explained by the first prediction it matches (or, failing
that, the oldest one still open); a prediction of silence holds until its connection's next crafted
segment or an expect_silence step that saw nothing. `agrees` is None while it is open.

Pure data (no session): the report writes `to_json` as the `prediction` object of issue 10's --json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tcplab.engine.words import cause_text
from tcplab.i18n import _
from tcplab.model.endpoint import Prediction
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment


@dataclass
class Predicted:
    prediction: Prediction
    cause: str  # "line 12: send", "line 14: app close", "timer: retransmission timer"
    time: float  # when its cause happened (capture time, seconds since the epoch)
    crafted: bool = False  # caused by a crafted segment (what the agreement figures count)
    agrees: bool | None = None  # None: not decided yet
    observed: str | None = None  # what the kernel did, once decided
    isns: tuple[int | None, int | None] | None = None  # (the kernel's, the crafting side's) ISN

    @property
    def silence(self) -> bool:
        return self.prediction.silence

    def matches(self, seg: Segment) -> bool:
        """The kernel's segment is the one predicted (flags, and every number the model knows)."""
        p = self.prediction.pattern
        if p is None or seg.flags != p.flags:
            return False
        if p.seq is not None and seg.seq != p.seq:
            return False
        if p.length is not None and len(seg.payload) != p.length:
            return False
        return p.ack is None or Flags.ACK not in seg.flags or seg.ack == p.ack

    def decide(self, agrees: bool, observed: str) -> None:
        self.agrees, self.observed = agrees, observed

    def predicted_text(self) -> str:
        """The predicted segment, numbers relative to the ISNs when they are known."""
        return self.prediction.text(self.isns) or _("no segment")

    def observed_text(self) -> str:
        """What the kernel did, as shown ("nothing" translated; a segment as tcpdump has it)."""
        if not self.observed:
            return _("something else")
        return _("nothing") if self.observed == "nothing" else self.observed

    def finding(self) -> str:
        """The plain sentence for a disagreement."""
        p = self.prediction
        if p.rfc in ("", "-"):
            message = _(
                "tcplab's model predicted {predicted} after {cause} (rule {rule}); "
                "the kernel did {observed}"
            )
        else:
            message = _(
                "tcplab's model predicted {predicted} after {cause} (rule {rule}, RFC {rfc}); "
                "the kernel did {observed}"
            )
        return message.format(
            predicted=self.predicted_text(),
            cause=cause_text(self.cause),
            rule=p.rule,
            rfc=p.rfc.removeprefix("RFC "),
            observed=self.observed_text(),
        )

    def summary(self) -> str:
        """One line for a check: what the model predicted, from what, and whether the kernel did it."""
        verdict = {
            True: _("tcplab's model: {predicted} after {cause} (rule {rule}); the kernel did so"),
            False: _("tcplab's model: {predicted} after {cause} (rule {rule}); the kernel did not"),
            None: _("tcplab's model: {predicted} after {cause} (rule {rule}); not decided"),
        }
        return verdict[self.agrees].format(
            predicted=self.predicted_text(),
            cause=cause_text(self.cause),
            rule=self.prediction.rule,
        )

    def to_json(self) -> dict[str, Any]:
        p = self.prediction
        return {
            "pattern": p.text(),
            "relative": p.text(self.isns) if self.isns else None,
            "rule": p.rule,
            "cause": self.cause,
            "agrees": self.agrees,
            "why": p.why,
            "rfc": p.rfc,
            "linux": p.linux,
            "delayed": p.delayed,
        }
