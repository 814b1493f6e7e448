"""The engine's words for people, in the language chosen: phrases with an English key, causes, the
model's texts.

A check's name is shown to people and also names it in --json (a key course tools read): `said`
makes both from one message, the English text (the key) and the text shown (translated), with
phrases inside it ("the SYN") translated the same way. A prediction's cause is kept in English
(drivers compare it: "timer: ...") and translated where it is shown (`cause_text`). The model's texts
(a table case's why, a Linux note) are marked by the model and translated here (`model_text`).

Called at run time only (the language is chosen before a command runs), never at import.
"""

from __future__ import annotations

import re

from tcplab.i18n import N_, _
from tcplab.model.endpoint import Prediction


class Said(str):
    """A message twice: the text in the language chosen (the str itself, what people read) and
    `key`, its English (for machines: --json, JUnit). In English the two are equal, so a Said
    compares, prints and formats as the plain text it always was."""

    key: str

    def __new__(cls, key: str, text: str) -> Said:
        said = super().__new__(cls, text)
        said.key = key
        return said

    @property
    def text(self) -> str:
        return str.__str__(self)

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return (self.key, self.text)

    def __repr__(self) -> str:
        return f"Said(key={self.key!r}, text={self.text!r})"


def english(value: str) -> str:
    """A value's English (a Said's key; a plain text as it is)."""
    return value.key if isinstance(value, Said) else value


def said(message: str, **params: object) -> Said:
    """`message` (marked N_ by the caller, or a literal passed to _ elsewhere) filled with
    `params` in English and in the language chosen; a Said parameter gives each its own side."""
    english = {k: v.key if isinstance(v, Said) else v for k, v in params.items()}
    shown = {k: v.text if isinstance(v, Said) else v for k, v in params.items()}
    return Said(message.format(**english), _(message).format(**shown))


def phrase(message: str) -> Said:
    """A fixed phrase (marked N_ by the caller) as a Said."""
    return Said(message, _(message))


# the causes drivers give a crafted segment's prediction (handshake, send)
CAUSES = (
    N_("the SYN"),
    N_("the third segment"),
    N_("the tidy-up RST"),
    N_("a crafted segment"),
    N_("the segment"),
    N_("send"),
)

_CAUSE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"your segment (?P<n>\d+) \((?P<flags>.*)\) from port (?P<port>\d+)"),
     N_("your segment {n} ({flags}) from port {port}")),
    (re.compile(r"app (?P<op>\w+)\(\) at (?P<time>[-+][\d.]+) s"),
     N_("app {op}() at {time} s")),
    (re.compile(r"line (?P<line>\d+): send"), N_("line {line}: send")),
    (re.compile(r"line (?P<line>\d+): app (?P<op>.+)"), N_("line {line}: app {op}")),
    (re.compile(r"line (?P<line>\d+)"), N_("line {line}")),  # a scenario step, in its report
)  # fmt: skip


def cause_text(cause: str) -> str:
    """A prediction's cause, or a scenario step's name ("line 12"), English as drivers keep it,
    in the language chosen:
    "app close() at +0.058 s", "your segment 3 (A) from port 40000", "timer: retransmission timer",
    "line 12: send"; a cause of another shape as the catalog has it, else unchanged."""
    if cause.startswith("timer: "):
        return _("timer: {timer}").format(timer=_(cause.removeprefix("timer: ")))
    for pattern, message in _CAUSE_PATTERNS:
        found = pattern.fullmatch(cause)
        if found is not None:
            groups = found.groupdict()
            if groups.get("flags") == "no flags":
                groups["flags"] = _("no flags")
            return _(message).format(**groups)
    return _(cause)


def why_text(prediction: Prediction) -> str:
    """A prediction's why in the language chosen: the case's explanation and the numbers of its
    reply with where they come from (the model's Text, translated part by part)."""
    return prediction.why_text.show(_)


def model_text(text: str) -> str:
    """A text of the model (a case's why, a Linux note, an input) in the language chosen. A why
    the model completed with the numbers it predicts ("...: seq +1, ack +1") keeps its numbers."""
    if not text:
        return text
    shown = _(text)
    if shown != text or ": " not in text:
        return shown
    head, _sep, numbers = text.rpartition(": ")
    translated = model_text(head)
    return (
        text
        if translated == head
        else _("{why}: {numbers}").format(why=translated, numbers=numbers)
    )
