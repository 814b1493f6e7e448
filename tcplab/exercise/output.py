"""What a solution printed, made readable for its author: the last lines of each stream, and every
traceback with the frames of scapy, tcplab and Python's standard library folded into one line, so
the student's own file, line and the exception stand out.

Pure: text in, text out. A traceback is read as CPython prints it (3.10+): a header, `File "…",
line N, in f` frames each followed by their indented source lines, `[Previous line repeated N more
times]`, then the exception's lines; chained exceptions are tracebacks one after another. A
SyntaxError in the solution itself has no header: its `File` line and the exception only.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from tcplab.i18n import N_, _, ngettext
from tcplab.text import shorten

HEADER = "Traceback (most recent call last):"
SHOWN_LINES = 40  # of each stream, in `lab check`'s text
JSON_LINES = 1000  # of each stream, in its --json
LINE_CHARS = 500  # a longer line is cut

_FRAME = re.compile(r'^  File "(?P<path>.*)", line (?P<line>\d+)(?:, in (?P<func>.*))?$')
_REPEATED = re.compile(r"^  \[Previous line repeated (?P<n>\d+) more times?\]$")
_PACKAGES = re.compile(r"/(?:site|dist)-packages/(?P<name>[^/]+)")
_STDLIB = re.compile(r"/lib/python3(?:\.\d+)?/")
STDLIB = N_("the standard library")  # an owner, shown as _(STDLIB)
# this copy of tcplab (the one a solution imports: the checker puts it first on its path)
TCPLAB_DIR = posixpath.dirname(posixpath.dirname(__file__.replace("\\", "/"))) + "/"
_CHAIN_NOTES = ("During handling of the above exception", "The above exception was")


@dataclass
class Frame:
    path: str
    line: int
    func: str  # "" for a SyntaxError's location
    source: list[str] = field(default_factory=list)  # the indented lines under it
    repeated: int = 0  # "[Previous line repeated N more times]"


@dataclass
class Traceback:
    """One traceback: its frames, outermost first, and the exception's lines."""

    frames: list[Frame] = field(default_factory=list)
    exception: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tail:
    """The last lines of a text, and how many earlier lines were left out."""

    lines: tuple[str, ...]
    cut: int = 0

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def tail(text: str, limit: int = SHOWN_LINES) -> Tail:
    """The last `limit` lines of `text` (a line longer than LINE_CHARS cut short)."""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    kept = lines[-limit:] if limit > 0 else []
    return Tail(tuple(shorten(x, LINE_CHARS) for x in kept), len(lines) - len(kept))


def owner(path: str, mine: str, tcplab_dir: str = TCPLAB_DIR) -> str | None:
    """Who a frame's file belongs to: None for the student's own (their folder `mine`, or a file
    tcplab cannot place), else the package ("scapy", "tcplab") or STDLIB."""
    path = path.replace("\\", "/")
    found = _PACKAGES.search(path)
    if found:
        return found.group("name").removesuffix(".py")
    if path.startswith(tcplab_dir):
        return "tcplab"
    if mine and path.startswith(mine.rstrip("/") + "/"):
        return None
    if "/tcplab/" in path:
        return "tcplab"  # another copy of tcplab's
    if _STDLIB.search(path) or path.startswith("<frozen "):
        return STDLIB
    return None


def parse(text: str) -> list[tuple[int, int, Traceback]]:
    """Every traceback in `text`: (first line, line after its last, traceback)."""
    lines = text.split("\n")
    found: list[tuple[int, int, Traceback]] = []
    i = 0
    while i < len(lines):
        start = i
        if lines[i] == HEADER:
            i += 1
        elif not (_FRAME.match(lines[i]) and _syntax_error_follows(lines, i)):
            i += 1
            continue
        tb, i = _read(lines, i)
        found.append((start, i, tb))
    return found


def _syntax_error_follows(lines: list[str], i: int) -> bool:
    """A headerless `File` line: the location of a SyntaxError (or one of its kind)."""
    for line in lines[i + 1 : i + 6]:
        if not line.startswith("    "):
            return bool(re.match(r"^\w*Error: ", line))
    return False


def _read(lines: list[str], i: int) -> tuple[Traceback, int]:
    """The frames and the exception starting at lines[i]; and the index after them."""
    tb = Traceback()
    while i < len(lines):
        m = _FRAME.match(lines[i])
        repeated = _REPEATED.match(lines[i])
        if m:
            tb.frames.append(Frame(m["path"], int(m["line"]), m["func"] or ""))
        elif repeated and tb.frames:
            tb.frames[-1].repeated += int(repeated["n"])
        elif lines[i].startswith("    ") and tb.frames:
            tb.frames[-1].source.append(lines[i])
        else:
            break
        i += 1
    while i < len(lines) and lines[i].strip() and lines[i] != HEADER:
        tb.exception.append(lines[i])
        i += 1
    return tb, i


def fold(tb: Traceback, mine: str, header: bool = True) -> list[str]:
    """The traceback as printed, with each run of frames not the student's as one line; the
    student's files shown relative to their folder `mine`."""
    out = [HEADER] if header else []
    run: list[Frame] = []
    for frame in tb.frames:
        if owner(frame.path, mine) is not None:
            run.append(frame)
            continue
        if run:
            out.append(_folded(run, mine))
            run = []
        out.append(_frame_line(frame, mine))
        out += frame.source
        if frame.repeated:
            out.append(f"  [Previous line repeated {frame.repeated} more times]")
    if run:
        out.append(_folded(run, mine))
    return out + tb.exception


def _frame_line(frame: Frame, mine: str) -> str:
    path = frame.path
    if mine and path.startswith(mine.rstrip("/") + "/"):
        path = posixpath.relpath(path, mine)
    func = f", in {frame.func}" if frame.func else ""
    return f'  File "{path}", line {frame.line}{func}'


def _folded(run: list[Frame], mine: str) -> str:
    """ "  … 6 frames in scapy, 1 in the standard library …" for consecutive frames not the
    student's (a repeated frame counts each time)."""
    counts: dict[str, int] = {}
    for frame in run:
        name = owner(frame.path, mine) or "?"
        counts[name] = counts.get(name, 0) + 1 + frame.repeated
    shown = [(_(STDLIB) if name == STDLIB else name, n) for name, n in counts.items()]
    first, n = shown[0]
    parts = [ngettext("{n} frame in {name}", "{n} frames in {name}", n).format(n=n, name=first)]
    parts += [_("{n} in {name}").format(n=n, name=name) for name, n in shown[1:]]
    return "  " + _("… {frames} …").format(frames=", ".join(parts))


def fold_all(text: str, mine: str) -> str:
    """`text` with every traceback in it folded (everything else unchanged)."""
    lines = text.split("\n")
    out: list[str] = []
    done = 0
    for start, end, tb in parse(text):
        out += lines[done:start]
        out += fold(tb, mine, header=lines[start] == HEADER)
        done = end
    return "\n".join(out + lines[done:])


@dataclass(frozen=True)
class Raised:
    """The exception that ended the program, and where in the student's own code."""

    exception: str  # its first line, e.g. "IndexError: Layer [UDP] not found"
    file: str | None  # the student's innermost frame (relative to their folder), if any
    line: int | None
    text: str  # the whole traceback, folded

    def to_json(self) -> dict[str, Any]:
        return {
            "exception": self.exception,
            "file": self.file,
            "line": self.line,
            "text": self.text,
        }


def raised(stderr: str, mine: str) -> Raised | None:
    """The last traceback of `stderr` if the program ended with it (nothing after it but blank
    lines: lines right after the exception's are read as more of its message), else None."""
    found = parse(stderr)
    if not found:
        return None
    start, end, tb = found[-1]
    lines = stderr.split("\n")
    if any(x.strip() for x in lines[end:]) or not tb.exception:
        return None
    first = _chain_start(lines, found)
    text = fold_all("\n".join(lines[first:end]), mine)
    theirs = [f for f in tb.frames if owner(f.path, mine) is None]
    where = theirs[-1] if theirs else None
    file = _frame_line(where, mine).split('"')[1] if where else None
    return Raised(tb.exception[0], file, where.line if where else None, text)


def _chain_start(lines: list[str], found: list[tuple[int, int, Traceback]]) -> int:
    """The first line of the last traceback with those chained to it ("During handling…")."""
    start = found[-1][0]
    for s, e, _tb in reversed(found[:-1]):
        if not all(not x.strip() or x.startswith(_CHAIN_NOTES) for x in lines[e:start]):
            break
        start = s
    return start


@dataclass(frozen=True)
class ProgramOutput:
    """What a solution printed: the tail of each stream (tracebacks folded) and what it raised."""

    stdout: Tail
    stderr: Tail
    raised: Raised | None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "stdout": self.stdout.text,
            "stdout_lines_cut": self.stdout.cut,
            "stderr": self.stderr.text,
            "stderr_lines_cut": self.stderr.cut,
        }
        if self.raised is not None:
            data["traceback"] = self.raised.to_json()
        return data


def program_output(
    stdout: str, stderr: str, solution: str, exit_code: int | None, limit: int = SHOWN_LINES
) -> ProgramOutput:
    """The solution's output as shown to its author; `solution` is its file's path (its folder
    holds the student's own frames). A traceback counts as raised only with a non-zero status."""
    mine = posixpath.dirname(solution.replace("\\", "/"))
    ended = raised(stderr, mine) if exit_code not in (0, None) else None
    return ProgramOutput(tail(stdout, limit), tail(fold_all(stderr, mine), limit), ended)
