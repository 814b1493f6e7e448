"""Who each submission is: a safe internal id for folders and keys, the name people know, and the
course's id and email, from the entry's name, the download layout it comes in, and the roster.

Any entry name is graded (spaces, accents, CJK, quotes, commas, 200 characters, bytes that are not
UTF-8). Its id is the name itself when that is already a plain folder name (letters, digits, '.',
'_', '-', at most 64, not a class file of --out), so ids of simple names stay as they were; any
other name gets an ASCII slug of itself and a hash of its bytes: unique, and the same on every run.

Layouts (what each course tool's bulk download makes):

- Moodle, "Download all submissions": a folder (or, without "download submissions in folders", a
  file prefix) per student and plugin, `FULL NAME_PARTICIPANT_assignsubmission_file_`; the
  participant id is the user's (or the blind-marking number) and several plugin folders of one
  student belong together;
- Canvas, "Download Submissions": flat files `lastfirst_USERID_ATTACHMENTID_FILE` (with `_late_` or
  `_LATE_` after the name when late; a submitted zip unpacked: a folder of that name); Canvas itself
  adds `-1`, `-2` to a file uploaded again;
- GitHub Classroom (`gh classroom clone student-repos`, Classroom Assistant): a folder per repository,
  `ASSIGNMENT-LOGIN`, the assignment's prefix shared by every folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from tcplab.errors import UsageError
from tcplab.i18n import _
from tcplab.userfile import Refused, read_bytes

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_ID = 64
# written beside the student folders in --out: a student's id must never be one of these
RESERVED = frozenset(
    {"gradebook.csv", "grade.json", "junit.xml", "history.jsonl", "canvas.csv", "moodle.csv"}
)
MAX_ROSTER = 4 << 20
NOT_IN_ROSTER = "not in the roster"  # the flag of a folder a roster does not name

MOODLE = re.compile(
    r"(?P<name>.+?)_(?P<id>\d+)_assign(?:submission|feedback)_(?P<plugin>[a-z]+)(?:_(?P<rest>.*))?",
    re.S,
)
CANVAS = re.compile(
    r"(?P<name>[^_]+)_(?:late_)?(?P<id>\d+)_(?P<attachment>\d+)_(?P<rest>.+)", re.S | re.I
)
CANVAS_COPY = re.compile(r"(?P<stem>.+)-\d+(?P<ext>\.[^.]*)?")


@dataclass(frozen=True)
class Student:
    """A student as graded: `id` names out/ID/ and keys; `name` is shown to people."""

    id: str
    name: str
    student_id: str = ""  # the course's: the roster's, or Moodle's participant / Canvas's user id
    email: str = ""
    folder: str = ""  # the entry's real name in the submissions folder ("" for a roster-only row)
    layout: str = ""  # "moodle", "canvas", "classroom", or "" for a plain folder
    in_roster: bool | None = None  # None: no roster was given
    id_from: str = ""  # where student_id comes from: "roster", else the layout's ("" when none)

    @property
    def id_source(self) -> str:
        """Where `student_id` comes from: "roster", "moodle", "canvas", "classroom" or ""."""
        return self.id_from or (self.layout if self.student_id else "")


@dataclass(frozen=True)
class Place:
    """One entry of the submissions folder and whose it is. `prefix` is what a flat file's name
    starts with before the student's own file name (Moodle without folders, Canvas)."""

    path: Path
    key: str  # entries with the same key are one student's
    name: str
    student_id: str = ""
    layout: str = ""
    prefix: str = ""
    flat: bool = False  # a file of the student's own, not a folder of them


def shown(name: str) -> str:
    """A file name as text for people: bytes that are not UTF-8 become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def safe_id(name: str) -> str:
    """The student's internal id for `name`: the name itself when it is a plain, short folder name
    (and not a class file of --out), else an ASCII slug and a hash of its bytes."""
    if SAFE_ID.fullmatch(name) and name.lower() not in RESERVED:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:10]
    ascii_ = unicodedata.normalize("NFKD", shown(name)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_).strip("._-")
    slug = re.sub(r"-{2,}", "-", slug)[: MAX_ID - len(digest) - 1].rstrip("._-")
    return f"{slug}-{digest}" if slug else f"student-{digest}"


def place(path: Path, is_dir: bool) -> Place:
    """An entry of the submissions folder with the layout its name shows."""
    entry = path.name
    for layout, pattern in (("moodle", MOODLE), ("canvas", CANVAS)):
        found = pattern.fullmatch(entry)
        rest = (found["rest"] or "") if found else ""
        if found and (is_dir or rest):
            prefix = "" if is_dir else entry[: len(entry) - len(rest)]
            key, name = f"{layout}:{found['id']}", shown(found["name"])
            return Place(path, key, name, found["id"], layout, prefix, flat=not is_dir)
    return Place(path, f"entry:{entry}", shown(entry))


def classroom(places: list[Place]) -> list[Place]:
    """Plain folders sharing one assignment prefix ("hw1-tcp-alice", "hw1-tcp-bob"): each named
    by its GitHub login. Needs at least two such folders and a non-empty login for every one."""
    plain = [p for p in places if not p.layout]
    prefix = _common_prefix([p.path.name for p in plain]) if len(plain) >= 2 else ""
    if not prefix:
        return places
    return [
        replace(p, name=shown(p.path.name[len(prefix) :]), student_id=p.path.name[len(prefix) :],
                layout="classroom") if not p.layout else p
        for p in places
    ]  # fmt: skip


def _common_prefix(names: list[str]) -> str:
    """The longest prefix ending in '-' that leaves a login in every name."""
    prefix = os.path.commonprefix(names)
    cut = prefix.rfind("-")
    if cut < 0:
        return ""
    prefix = prefix[: cut + 1]
    return prefix if all(len(n) > len(prefix) for n in names) else ""


def canvas_file(name: str) -> str:
    """A Canvas file's own name, without the `-1` Canvas adds to a file uploaded again."""
    found = CANVAS_COPY.fullmatch(name)
    return f"{found['stem']}{found['ext'] or ''}" if found else name


# ---- the roster ---------------------------------------------------------------------------

_COLUMNS = {
    "folder": ("folder", "repository", "repo", "submission", "directory", "login", "github"),
    "student_id": (
        "student id",
        "student_id",
        "studentid",
        "id",
        "sis id",
        "sis_user_id",
        "id number",
    ),
    "name": ("display name", "display_name", "name", "full name", "student", "student name"),
    "email": ("email", "e-mail", "email address", "mail"),
}


@dataclass(frozen=True)
class RosterRow:
    folder: str
    student_id: str
    name: str
    email: str
    line: int


def read_roster(path: str) -> list[RosterRow]:
    """The roster CSV (UTF-8 with or without a BOM, ',' or ';'): a header naming a folder or
    repository column, and optionally student id, display name and email; UsageError says what
    is wrong, with the line."""
    try:
        data = read_bytes(path, MAX_ROSTER)
    except Refused as exc:
        raise UsageError(
            _("--roster {why}").format(why=exc), _("give the roster as a CSV file")
        ) from None
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            _("--roster {path}: not UTF-8 (line {line})").format(path=path, line=line),
            _("save the roster as CSV UTF-8"),
        ) from None
    return parse_roster(body, path)


def parse_roster(body: str, path: str = "roster") -> list[RosterRow]:
    lines = body.splitlines()
    if not lines or not lines[0].strip():
        raise UsageError(
            _("--roster {path}: empty").format(path=path),
            _("the first line names the columns: folder,student id,name,email"),
        )
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    where = _where(header, path)
    rows: list[RosterRow] = []
    seen: dict[str, int] = {}
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        row = _row(fields, where, header, reader.line_num, path)
        if row.folder in seen:
            raise UsageError(
                _("--roster {path}: line {line} names folder {folder} again (line {first})").format(
                    path=path, line=row.line, folder=repr(row.folder), first=seen[row.folder]
                ),
                _("give each folder or repository once"),
            )
        seen[row.folder] = row.line
        rows.append(row)
    return rows  # fmt: skip


def _where(header: list[str], path: str) -> dict[str, int]:
    where: dict[str, int] = {}
    for field, names in _COLUMNS.items():
        for i, h in enumerate(header):
            if h in names and i not in where.values():
                where[field] = i
                break
    if "folder" not in where:
        raise UsageError(
            _("--roster {path}: no folder or repository column in its header ({header})").format(
                path=path, header=",".join(header)[:80]
            ),
            _("name the columns on line 1: folder,student id,name,email"),
        )
    return where


def _row(
    fields: list[str], where: dict[str, int], header: list[str], line: int, path: str
) -> RosterRow:
    if len(fields) > len(header):
        raise UsageError(
            _("--roster {path}: line {line} has {fields} fields, the header {header}").format(
                path=path, line=line, fields=len(fields), header=len(header)
            ),
            _('quote a field that holds the separator ("Zhang, Wei")'),
        )

    def get(field: str) -> str:
        i = where.get(field)
        return fields[i].strip() if i is not None and i < len(fields) else ""

    folder = get("folder").rstrip("/")  # "alice/" as a shell completes it
    if not folder:
        raise UsageError(
            _("--roster {path}: line {line} has no folder").format(path=path, line=line),
            _("give every student's folder or repository"),
        )
    return RosterRow(folder, get("student_id"), get("name"), get("email"), line)
