"""The class as handed in: every entry of the submissions folder is a student (or a file of one, in
Moodle's and Canvas's flat layouts) and gets one Submission per lab; nothing is skipped silently.

Each Submission ends as a run, or, before anything runs, as `missing` (no file for the lab),
`misnamed` (no LAB.py, but a file that looks meant to be it: it is named, never run) or `refused`
(the student's entry is not a folder; LAB.py is a symlink, a FIFO, a giant, not UTF-8 without a
coding line: the same rules as `lab check`, tcplab/exercise/source.py). Hidden entries and files
named like a class file of --out are listed as skipped, with why.
"""

from __future__ import annotations

import itertools
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from tcplab.errors import UsageError
from tcplab.exercise.catalog import LabDef
from tcplab.exercise.source import MAX_SOLUTION, Unusable, problem, read_solution
from tcplab.grade.outcome import Verdict
from tcplab.grade.roster import (
    NOT_IN_ROSTER,
    RESERVED,
    Place,
    RosterRow,
    Student,
    canvas_file,
    classroom,
    place,
    safe_id,
    shown,
)
from tcplab.i18n import _
from tcplab.userfile import kind

__all__ = [
    "MAX_SOLUTION",
    "NotRun",
    "Submission",
    "Unusable",
    "discover",
    "prepare",
    "read_solution",
]

MAX_ENTRIES = 1000  # looked at in one student's folder, to find a misnamed file
CLASS_FILES = RESERVED
_COPY = re.compile(r"(\s*\(\d+\)|\s*-\s*copy(\s*\(\d+\))?|\s+copy(\s+\d+)?|[\s_-]+\d+)$")
_SEPARATORS = re.compile(r"[\s_-]+")


@dataclass(frozen=True)
class Submission:
    student: str  # the safe internal id (out/ID/, keys)
    lab: LabDef
    path: Path | None  # None: no file for this lab
    problem: str | None = None  # why the student's entry cannot hold a solution (not a folder)
    who: Student | None = None
    misnamed: tuple[str, ...] = ()  # files that look meant to be LAB.py (shown, never run)
    absent: str = ""  # why there is no file, when it is not simply missing from the folder
    flags: tuple[str, ...] = field(default=())  # for the instructor: "not in the roster"


class NotRun(Exception):
    """A submission decided before anything runs: its verdict and why."""

    def __init__(self, verdict: Verdict, message: str) -> None:
        super().__init__(message)
        self.verdict, self.message = verdict, message


def prepare(sub: Submission) -> bytes:
    """The solution's bytes, ready to run; NotRun with the verdict (missing, misnamed, refused)
    when it is not run."""
    lab = f"{sub.lab.name}.py"
    if sub.problem is not None:
        raise NotRun(Verdict.REFUSED, sub.problem)
    if sub.path is None and sub.misnamed:
        found = ", ".join(sub.misnamed[:3]) + (", …" if len(sub.misnamed) > 3 else "")
        raise NotRun(
            Verdict.MISNAMED,
            _("no {lab}, but found {found}; rename it {lab}: it was not run").format(
                lab=lab, found=found
            ),
        )
    if sub.path is None:
        missing = sub.absent or _("no {lab} in the student's folder").format(lab=lab)
        raise NotRun(Verdict.MISSING, missing)
    try:
        source = read_solution(sub.path)
    except Unusable as exc:
        raise NotRun(Verdict.REFUSED, str(exc)) from None
    why = problem(source, lab)
    if why is not None:
        raise NotRun(Verdict.REFUSED, why)
    return source


def discover(
    submissions: Path, labs: list[LabDef], roster: list[RosterRow] | None = None
) -> tuple[list[Submission], list[str]]:
    """One Submission per (student, lab) for every entry, and a line for each entry that is not a
    student's (hidden, or a class file of --out). With a roster, its students without a folder
    are `missing` for every lab, and a folder not in it is flagged."""
    if not submissions.is_dir():
        raise UsageError(
            _("{folder}: no such folder").format(folder=submissions),
            _("give the folder of student folders"),
        )
    places, skipped = _places(submissions)
    students = _students(places, roster)
    if not students:
        raise UsageError(
            _("{folder}: no student folders").format(folder=submissions),
            _("put one folder per student in it, holding LAB.py for each lab"),
        )
    found = [_submission(who, mine, lab) for who, mine in students for lab in labs]
    return found, skipped


def _places(submissions: Path) -> tuple[list[Place], list[str]]:
    places, skipped = [], []
    try:
        entries = sorted(os.scandir(submissions), key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        raise UsageError(
            _("{folder}: cannot be read ({why})").format(folder=submissions, why=exc.strerror),
            _("give a folder you can read"),
        ) from None
    for entry in entries:
        name = shown(entry.name)
        if entry.name.startswith("."):
            skipped.append(
                _("{name}: a hidden entry; not a student's (rename it to grade it)").format(
                    name=repr(name)
                )
            )
            continue
        is_dir = _is_dir(entry)
        if not is_dir and entry.name.lower() in RESERVED:
            skipped.append(
                _("{name}: the name of a class file of --out; not a student's").format(
                    name=repr(name)
                )
            )
            continue
        places.append(place(Path(entry.path), is_dir))
    plain_dirs = [p for p in places if not p.layout and p.path.is_dir() and not p.path.is_symlink()]
    named = {p.path: p for p in classroom(plain_dirs)}
    return [named.get(p.path, p) for p in places], skipped


def _students(
    places: list[Place], roster: list[RosterRow] | None
) -> list[tuple[Student, list[Place]]]:
    groups: dict[str, list[Place]] = {}
    for p in places:
        groups.setdefault(p.key, []).append(p)
    out: list[tuple[Student, list[Place]]] = []
    taken: set[str] = set()
    for key, mine in groups.items():
        first = mine[0]
        plain = not first.layout or first.layout == "classroom"
        base = first.path.name if plain else f"{first.name}_{first.student_id}"
        sid = _unique(safe_id(base), key, taken)
        name = first.name if first.layout in ("moodle", "canvas") else shown(first.path.name)
        who = Student(sid, name, first.student_id,
                      folder=shown(first.path.name), layout=first.layout)  # fmt: skip
        out.append((who, mine))
    if roster is not None:
        out = _with_roster(out, roster, taken)
    return out


def _unique(sid: str, key: str, taken: set[str]) -> str:
    if sid in taken:
        sid = safe_id(f"{sid}\0{key}")
    taken.add(sid)
    return sid


def _with_roster(
    students: list[tuple[Student, list[Place]]], roster: list[RosterRow], taken: set[str]
) -> list[tuple[Student, list[Place]]]:
    rows = list(roster)
    out = []
    for who, mine in students:
        row = next((r for r in rows if _matches(r, who, mine)), None)
        if row is None:
            out.append((replace(who, in_roster=False), mine))
            continue
        rows.remove(row)
        who = replace(who, name=row.name or who.name, student_id=row.student_id or who.student_id,
                      email=row.email, in_roster=True,
                      id_from="roster" if row.student_id else who.id_from)  # fmt: skip
        out.append((_roster_id(who, row, taken), mine))
    for row in rows:  # roster students without a folder
        sid = _unique(safe_id(row.folder), f"roster:{row.folder}", taken)
        who = Student(sid, row.name or row.folder, row.student_id, row.email, "", "", True,
                      "roster" if row.student_id else "")  # fmt: skip
        out.append((who, []))
    return out


def _roster_id(who: Student, row: RosterRow, taken: set[str]) -> Student:
    """A student the roster names is known by the roster's folder, with a folder or without: the
    same id whether their folder is handed in yet or not, and whatever layout names it."""
    sid = safe_id(row.folder)
    if sid == who.id or sid in taken:
        return who
    taken.discard(who.id)
    taken.add(sid)
    return replace(who, id=sid)


def _matches(row: RosterRow, who: Student, mine: list[Place]) -> bool:
    names = {shown(p.path.name) for p in mine}
    if row.folder in names or (who.student_id and row.folder == who.student_id):
        return True
    return bool(who.layout in ("moodle", "canvas") and row.student_id == who.student_id)


def _submission(who: Student, mine: list[Place], lab: LabDef) -> Submission:
    flags = (NOT_IN_ROSTER,) if who.in_roster is False else ()
    sub = Submission(who.id, lab, None, who=who, flags=flags)
    if not mine:
        return replace(
            sub,
            absent=_("no folder for this student in the submissions (roster: {name})").format(
                name=who.name
            ),
        )
    wanted = f"{lab.name}.py"
    for p in mine:
        if p.flat:
            continue
        why = _not_a_folder(p.path)
        if why is not None and not p.layout:
            return replace(sub, problem=why)
    files = list(_files(mine))
    exact = next((path for name, path, depth in files if name == wanted and depth == 0), None)
    if exact is not None:
        return replace(sub, path=exact)
    near = tuple(
        shown(shown_name(name, path, depth))
        for name, path, depth in files
        if looks_like(name, lab.name)
    )
    return replace(sub, misnamed=near)


def shown_name(name: str, path: Path, depth: int) -> str:
    """How a found file is named in a message: its own name, with its subfolder if it is in one."""
    return f"{path.parent.name}/{path.name}" if depth else name


def _files(mine: list[Place]) -> Iterator[tuple[str, Path, int]]:
    """(the file's own name, its path, 0 or 1 for a subfolder) for each file of the student."""
    for p in mine:
        if p.flat:
            own = p.path.name[len(p.prefix) :]
            yield (canvas_file(own) if p.layout == "canvas" else own), p.path, 0
        elif _not_a_folder(p.path) is None:
            for entry, depth in _listing(p.path):
                yield entry.name, Path(entry.path), depth


def _listing(folder: Path) -> Iterator[tuple[os.DirEntry[str], int]]:
    """The folder's entries and those of its plain subfolders (not hidden, not symlinks)."""
    entries = _entries(folder)
    for entry in entries:
        yield entry, 0
    for entry in entries:
        if not entry.name.startswith(".") and _is_dir(entry):
            yield from ((sub, 1) for sub in _entries(Path(entry.path)))


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    """At most MAX_ENTRIES of a folder's entries, by name (none if it cannot be read)."""
    try:
        with os.scandir(folder) as it:
            return sorted(itertools.islice(it, MAX_ENTRIES), key=lambda e: e.name)
    except OSError:
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def looks_like(filename: str, lab: str) -> bool:
    """Whether a file looks meant to be LAB.py: the same name but for case, '-' or '_' or spaces,
    a copy suffix (" (1)", "-1", " copy") and its extensions (handshake.PY, rst.py.txt)."""
    name = unicodedata.normalize("NFKC", filename).casefold()
    stem = name.split(".", 1)[0]
    stem = _COPY.sub("", stem.strip())
    return _SEPARATORS.sub("_", stem.strip()) == _SEPARATORS.sub("_", lab.casefold())


def _not_a_folder(entry: Path) -> str | None:
    """Why a student's entry is not a folder of solutions (None when it is one)."""
    try:
        mode = entry.lstat().st_mode
    except OSError as exc:
        return _("the student's folder {name} cannot be read ({why})").format(
            name=shown(entry.name), why=exc.strerror
        )
    if stat.S_ISDIR(mode):
        return None
    return _("the student's entry {name} is {kind}, not a folder; nothing in it was read").format(
        name=shown(entry.name), kind=kind(mode)
    )
