"""The model's words for people: marked for the catalog, translated where they are shown.

The model is pure and imports no other part of tcplab, so it cannot translate; it only marks its
texts with `N_`, which returns its argument, and scripts/catalog.py finds every `N_` for the
catalog. Two kinds of text leave the model:

- Fixed text, a plain `str` marked with `N_`: a table case's explanation (`Case.why`), a row's Linux
  note (`Row.linux`, `Prediction.linux`), the description of an `Input`, a `Guard`, a `Num`, and the
  places that are not RFC states ("no socket", "request sock", "orphan FIN_WAIT_2"). Whoever shows it
  translates it: `_(case.why)`; an empty note stays empty (`_("")` would be the catalog's header, so
  show it with `Text(note).show(_)`, which keeps "" as "").
- Text with numbers, a `Text`: an `N_`-marked template with named placeholders and the values that
  fill them (a number, a plain string, another `Text`, or a tuple of `Text` shown joined by ", ").
  `Prediction.why_text` ("the ACK of the SYN+ACK ...: seq = snd_nxt = 1001, ack = ...") and
  `Prediction.cause_text` ("app: send() of 5 bytes") are such texts. `text.english` is the English
  the model has always produced (`Prediction.why` and `.cause` are exactly that, for JSON and for
  English output); `text.show(_)` translates the template, then each value, and only then fills the
  placeholders, so a translation may move them and the numbers stay as they are.

State names, flags, tcpdump notation (`seq 1:6`, `len 5 (mss 1460)`) and variable names (snd_nxt,
iss) are not marked: they read the same in every language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

Translate = Callable[
    [str], str
]  # tcplab.i18n._, or any function from English to the language shown
Value = Union[str, int, "Text", tuple["Text", ...]]


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for the marker)
    """Mark `message` for the catalog; it is translated where it is shown."""
    return message


def _same(message: str) -> str:
    return message


@dataclass(frozen=True)
class Text:
    """A text for people: `template` (marked with `N_` where it has words) and the named values
    that fill its `{placeholders}`, after the template is translated."""

    template: str
    values: tuple[tuple[str, Value], ...] = ()

    @classmethod
    def of(cls, template: str, **values: Value) -> Text:
        """`Text.of(N_("{field} = its ack = {value}"), field="seq", value=1001)`."""
        return cls(template, tuple(values.items()))

    @property
    def english(self) -> str:
        """The text in English, the model's own words."""
        return self.show(_same)

    def show(self, translate: Translate) -> str:
        """The text in the language of `translate` (tcplab.i18n._): the template translated, then
        filled with the values (each Text among them translated the same way). "" stays ""."""
        if not self.template:
            return ""
        if not self.values:
            return translate(self.template)
        filled = {name: _filled(value, translate) for name, value in self.values}
        return translate(self.template).format(**filled)

    def __str__(self) -> str:
        return self.english


def _filled(value: Value, translate: Translate) -> str:
    if isinstance(value, Text):
        return value.show(translate)
    if isinstance(value, tuple):
        return ", ".join(part.show(translate) for part in value)
    return str(value)


class Invalid(ValueError):
    """A ValueError of the model whose message is a Text (a notation that does not parse, a state
    `ss` does not name): str() is the English message, as before; `.text.show(_)` translates it."""

    def __init__(self, template: str, **values: Value) -> None:
        self.text = Text.of(template, **values)
        super().__init__(self.text.english)


def error_text(exc: BaseException, translate: Translate) -> str:
    """An exception's message in the language of `translate`: a model's Invalid translated, any
    other exception as str() says it."""
    return exc.text.show(translate) if isinstance(exc, Invalid) else str(exc)
