"""The class as handed in: one Submission per (student, lab), and the solution file read without
trusting it. A student's entry may be anything a file system holds: a symlink to a grader's file or
to /etc/shadow, a directory or a FIFO named LAB.py, a socket, a device, a giant. Nothing is followed,
nothing is waited on, nothing is read past the size cap; what cannot be a solution is an `Unusable`
whose message becomes that student's verdict (invalid), never the end of the class.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from tcplab.errors import UsageError
from tcplab.exercise.catalog import LabDef
from tcplab.userfile import kind

STUDENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_SOLUTION = 256 << 10
CLASS_FILES = {"gradebook.csv", "grade.json", "junit.xml", "history.jsonl"}  # beside the students


@dataclass(frozen=True)
class Submission:
    student: str
    lab: LabDef
    path: Path | None  # None: no file for this lab
    problem: str | None = None  # why the student's entry cannot hold a solution (not a folder)


def discover(submissions: Path, labs: list[LabDef]) -> tuple[list[Submission], list[str]]:
    """One Submission per (student, lab), and a line for each entry that was skipped. An entry
    with a student's name that is not a plain folder (a symlink, a file...) is still a student:
    each of their labs gets the verdict `invalid`, so the instructor sees it in the gradebook."""
    if not submissions.is_dir():
        raise UsageError(f"{submissions}: no such folder", "give the folder of student folders")
    found, skipped = [], []
    for entry in sorted(submissions.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if not STUDENT_NAME.fullmatch(entry.name):
            skipped.append(f"{entry.name!r}: a folder name must be letters, digits, '.', '_', '-'")
            continue
        if entry.name.lower() in CLASS_FILES:
            skipped.append(f"{entry.name!r}: the name of a class file in --out; rename the folder")
            continue
        problem = _not_a_folder(entry)
        for lab in labs:
            path = entry / f"{lab.name}.py"
            if problem is not None:
                found.append(Submission(entry.name, lab, None, problem))
            else:
                found.append(Submission(entry.name, lab, path if os.path.lexists(path) else None))
    if not found:
        raise UsageError(
            f"{submissions}: no student folders",
            "put one folder per student in it, holding LAB.py for each lab",
        )
    return found, skipped


def _not_a_folder(entry: Path) -> str | None:
    """Why a student's entry is not a folder of solutions (None when it is one)."""
    try:
        mode = entry.lstat().st_mode
    except OSError as exc:
        return f"the student's folder {entry.name} cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return None
    return f"the student's entry {entry.name} is {kind(mode)}, not a folder; nothing in it was read"


class Unusable(Exception):
    """A solution file that cannot be run; the message says why, for the student's verdict."""


def read_solution(path: Path) -> bytes:
    """The file's bytes, refusing what is not a small regular file (a symlink, a directory, a FIFO,
    a socket, a device, a giant) without following, blocking on or reading it; Unusable says why.
    The folder is opened first without following a symlink, and the file relative to it."""
    name = path.name
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise Unusable(f"the folder of {name} cannot be read ({exc.strerror})") from None
    try:
        return _read_in(folder, name)
    finally:
        os.close(folder)


def _read_in(folder: int, name: str) -> bytes:
    try:
        before = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        raise Unusable(f"{name} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(before.st_mode):
        raise Unusable(f"{name} is {kind(before.st_mode)}; only a regular file is run")
    _check_size(name, before.st_size)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=folder)
    except OSError as exc:
        raise Unusable(f"{name} is not readable ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != (before.st_dev, before.st_ino):
            raise Unusable(f"{name} was replaced while it was read")
        chunks, size = [], 0
        while size <= MAX_SOLUTION and (chunk := os.read(fd, MAX_SOLUTION + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise Unusable(f"{name} is not readable ({exc.strerror})") from None
    finally:
        os.close(fd)
    _check_size(name, size)
    return b"".join(chunks)


def _check_size(name: str, size: int) -> None:
    if size > MAX_SOLUTION:
        raise Unusable(
            f"{name} is larger than {MAX_SOLUTION >> 10} KiB ({size} bytes); it was not run"
        )
