"""`tcplab states`: TCP's 11 states and the transitions of tcplab's model, as text and as a picture
(tcplab.draw.states). Pure: no root, no testbed."""

from __future__ import annotations

import typer

from tcplab.errors import EnvironmentProblem, UsageError
from tcplab.i18n import N_, _
from tcplab.userfile import Refused, check_writable, write_output

HINT = N_("name a file in a folder you can write to, e.g. states.svg")


def show(svg: str | None) -> None:
    """Print the states and their transitions; with `svg`, write the state diagram there too."""
    from tcplab.draw import states

    if svg is not None:
        try:
            check_writable(svg)
        except Refused as exc:
            raise UsageError(_("cannot write --svg {exc}").format(exc=exc), _(HINT)) from None
    typer.echo(states.listing())
    if svg is None:
        return
    data = states.document(states.diagram([], title=_("TCP's states"))).encode("utf-8")
    try:
        write_output(svg, data)
    except Refused as exc:
        raise EnvironmentProblem(_("cannot write --svg {exc}").format(exc=exc), _(HINT)) from None
    typer.echo()
    typer.echo(_("the state diagram: {svg}").format(svg=svg))
