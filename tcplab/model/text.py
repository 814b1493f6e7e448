"""The model's words for people: marked for the catalog, translated where they are shown.

The model is pure and imports no other part of tcplab, so it cannot translate; it only marks its
texts (a table case's explanation and Linux note, an input's description) with `N_`, which returns
its argument. Whoever shows such a text passes it through `tcplab.i18n._` (scripts/catalog.py finds
every `N_` for the catalog).
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for the marker)
    """Mark `message` for the catalog; it is translated where it is shown."""
    return message
