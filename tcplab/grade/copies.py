"""Submissions that are, or reach for, a lab's reference solution. The sandbox does not show the
references (the jail hides the labs' folders), so one that tries to run a reference fails; these
checks make sure that such a try, or a plain copy of the reference, is never full marks in silence:
the outcome is flagged for the instructor, with the score as observed.

A copy is found by comparing token streams (Python's own tokenizer) without comments, blank lines,
layout or docstrings, so reformatting or recommenting the reference does not hide it.
"""

from __future__ import annotations

import functools
import io
import re
import tokenize
from pathlib import Path

from tcplab.exercise.catalog import LabDef
from tcplab.i18n import _

# names that only a submission reaching for the shipped labs' files has a reason to write
_REACHING = re.compile(rb"(?:solution|checks)\.py|tcplab[./\\]+labs|labs[/\\]+[\w.-]+[/\\]")
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.INDENT, tokenize.DEDENT}
_LINE_END = {tokenize.NEWLINE, tokenize.ENDMARKER}

Tokens = tuple[tuple[int, str], ...]


def tokens(source: bytes) -> Tokens | None:
    """The source's significant tokens (type, text) without comments, layout and docstrings;
    None when it does not tokenize (it cannot be a copy of a working reference then)."""
    try:
        raw = [t for t in tokenize.tokenize(io.BytesIO(source).readline) if t.type not in _SKIP]
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, ValueError, LookupError):
        return None  # LookupError: a coding line naming no codec, or one that is no text codec
    kept: list[tuple[int, str]] = []
    dropped = -2
    for i, tok in enumerate(raw):
        starts = i == 0 or raw[i - 1].type == tokenize.NEWLINE
        ends = i + 1 == len(raw) or raw[i + 1].type in _LINE_END
        if tok.type == tokenize.STRING and starts and ends:
            dropped = i  # a docstring or a bare string: no effect on what runs
        elif not (i == dropped + 1 and tok.type == tokenize.NEWLINE):
            kept.append((tok.type, tok.string))
    return tuple(kept)


@functools.cache
def _reference(path: Path) -> Tokens | None:
    try:
        return tokens(path.read_bytes())
    except OSError:  # an install without references, or a course lab without one
        return None


def flags(source: bytes, lab: LabDef) -> list[str]:
    """What the instructor should know about this submission; [] for an ordinary one."""
    found = []
    mine = tokens(source)
    reference = _reference(lab.solution)
    if reference is not None and mine == reference:
        found.append(
            _("identical to the reference solution of {lab} (layout and comments aside)").format(
                lab=lab.name
            )
        )
    code = source if mine is None else "".join(t for _, t in mine).encode(errors="replace")
    reach = _REACHING.search(code)  # in code and strings, not in comments
    if reach is not None:
        what = reach.group().decode(errors="replace")
        found.append(
            _("names the labs' reference or checks files ({what})").format(what=repr(what))
        )
    return found
