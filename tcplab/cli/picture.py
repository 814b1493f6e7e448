"""--svg FILE (and run's --svg FOLDER): the exchange as a picture, checked before anything runs
and written after (tcplab.draw.exchange: the sequence diagram beside the state diagram)."""

from __future__ import annotations

import os
from typing import Any

from tcplab.errors import EnvironmentProblem, UsageError
from tcplab.i18n import N_, _
from tcplab.userfile import Refused, check_folder, check_writable, write_output

HINT = N_("name a file in a folder you can write to, e.g. exchange.svg")


def svg_path(value: str | None) -> str | None:
    """Refuse an --svg path that cannot be written, before anything is sent."""
    if value is None:
        return None
    try:
        check_writable(value)
    except Refused as exc:
        raise UsageError(_("cannot write --svg {exc}").format(exc=exc), _(HINT)) from None
    return value


def svg_folder(folder: str | None, names: list[str]) -> list[str | None]:
    """Where each scenario's picture goes: FOLDER/NAME.svg (NAME.2.svg for a second scenario of
    the same name), every one checked before anything runs."""
    if folder is None:
        return [None] * len(names)
    seen: dict[str, int] = {}
    out: list[str | None] = []
    try:
        check_folder(folder)
        for name in names:
            seen[name] = seen.get(name, 0) + 1
            n = seen[name]
            path = os.path.join(folder, f"{name}.svg" if n == 1 else f"{name}.{n}.svg")
            if os.path.lexists(path):
                check_writable(path)
            out.append(path)
    except Refused as exc:
        raise UsageError(
            _("cannot write --svg {exc}").format(exc=exc), _("name a folder you can write files in")
        ) from None
    return out


def exchange_svg(report: Any, relative: bool = True) -> str:
    """The picture of a Report's exchange, as SVG text."""
    from tcplab.draw import exchange
    from tcplab.engine.ladder import build

    return exchange.document(build(report, relative=relative))


def write_svg(path: str, report: Any, relative: bool = True) -> None:
    """Write the exchange's picture to `path` (checked earlier with svg_path)."""
    data = exchange_svg(report, relative).encode("utf-8")
    try:
        write_output(path, data)
    except Refused as exc:
        raise EnvironmentProblem(
            _("cannot write --svg {exc}").format(exc=exc), _("name another file")
        ) from None
