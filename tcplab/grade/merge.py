"""Grading into a results folder that already holds a run: the class is kept, not replaced.

--out keeps, beside the files people read, the whole class as tcplab needs it to write them again
(`.tcplab-class.json`: every outcome in full, the class's seed, labs and labs folder, what an
interrupted run left to grade, the similarity hints). A run's outcomes replace those (student, lab)
rows; every other row is written again from the very same outcome, so it comes out byte for byte
as it was, and the folders of students not graded in this run are not touched.

Each run adds one line to `history.jsonl` (when, seed, tcplab version, labs, who was graded, and
each (student, lab) with its old and new score and verdict): what a regrade request needs.
"""

from __future__ import annotations

import dataclasses
import enum
import fcntl
import functools
import json
import os
import shutil
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from tcplab.errors import UsageError
from tcplab.exercise.catalog import LabDef
from tcplab.grade.outcome import Outcome, Verdict
from tcplab.grade.submission import Submission
from tcplab.i18n import ENGLISH, _

STATE = ".tcplab-class.json"  # a dot file: never a student folder, nor taken for one
HISTORY = "history.jsonl"
FORMAT = 1
_NOT_KEPT = {"report"}  # the engine's live Report: its text and HTML are kept instead

Key = tuple[str, str]  # (student, lab)


# ---- one outcome, kept whole ------------------------------------------------------------------


def record(o: Outcome) -> dict[str, Any]:
    """Every field of the outcome as JSON (not the live report), enough to write any file again."""
    return {f.name: _plain(getattr(o, f.name)) for f in fields(o) if f.name not in _NOT_KEPT}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def restore(data: dict[str, Any]) -> Outcome:
    """The outcome `record` kept; fields it did not know take their defaults."""
    revived: Outcome = _revive(Outcome, data)
    return revived


def _revive(hint: Any, value: Any) -> Any:
    """`value` (from JSON) made what the type hint says again: dataclasses (their known fields;
    the others take their defaults), enums, and lists, tuples and dicts of them."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _revive(options[0], value) if len(options) == 1 else value
    if origin in (list, tuple) and args:
        items = [_revive(args[0], v) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict and len(args) == 2:
        return {k: _revive(args[1], v) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(hint, type) and is_dataclass(hint):
        hints = _hints(hint)
        return hint(**{k: _revive(hints[k], v) for k, v in value.items() if k in hints})
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's fields that `record` keeps, with their types."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.init and f.name not in _NOT_KEPT}


# ---- the class in --out -----------------------------------------------------------------------


@dataclass
class ClassRun:
    """What --out holds: the class's seed, labs and labs folder; every outcome; the (student, lab)
    pairs an interrupted run did not reach; the similarity hints per lab (JSON clusters)."""

    seed: str
    labs: list[str]
    labs_dir: str | None
    outcomes: dict[Key, Outcome] = field(default_factory=dict)
    pending: set[Key] = field(default_factory=set)
    similar: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    roster: str | None = None  # the --roster the class was graded with: a regrade reads it again
    excel: bool = False  # gradebook.csv with a byte order mark (--excel), kept on every regrade
    lang: str = ENGLISH  # the course's language (grade --lang): a regrade speaks it unless told

    @property
    def interrupted(self) -> bool:
        return bool(self.pending)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "seed": self.seed,
            "labs": self.labs,
            "labs_dir": self.labs_dir,
            "pending": sorted([s, lab] for s, lab in self.pending),
            "similar": self.similar,
            "roster": self.roster,
            "excel": self.excel,
            "lang": self.lang,
            "outcomes": [record(self.outcomes[k]) for k in sorted(self.outcomes)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassRun:
        outcomes = [restore(o) for o in data["outcomes"]]
        return cls(
            seed=str(data["seed"]),
            labs=[str(lab) for lab in data["labs"]],
            labs_dir=data.get("labs_dir"),
            outcomes={(o.student, o.lab): o for o in outcomes},
            pending={(str(s), str(lab)) for s, lab in data.get("pending") or []},
            similar=dict(data.get("similar") or {}),
            roster=data.get("roster"),
            excel=bool(data.get("excel", False)),
            lang=str(data.get("lang") or ENGLISH),  # a class graded before languages: English
        )


def class_meta(run: ClassRun) -> dict[str, Any]:
    """grade.json's meta about the class (not this run): its seed, labs and labs folder, and
    whether it is partial (an interrupted run left (student, lab) pairs without a row)."""
    return {
        "seed": run.seed,
        "labs": run.labs,
        "labs_dir": run.labs_dir,
        "lang": run.lang,
        "interrupted": run.interrupted,
        "not_graded": [list(k) for k in sorted(run.pending)],
    }


def holds_run(out: Path) -> bool:
    """True when --out holds the files of an earlier run (of this tcplab or an older one)."""
    return any((out / name).exists() for name in ("gradebook.csv", "grade.json", STATE))


def load(out: Path) -> ClassRun | None:
    """The class --out holds; None when it holds none. A run of an older tcplab (class files but
    no record to merge with) or an unreadable record is a usage error."""
    path = out / STATE
    if not path.exists():
        if holds_run(out):
            raise UsageError(
                _(
                    "--out {out} holds a grading run without tcplab's record of the class "
                    "({state}), so it cannot be merged into"
                ).format(out=out, state=STATE),
                _("use --replace to start over there, or a new --out"),
            )
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {FORMAT}")
        return ClassRun.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            _("--out {out}: the record of the class ({state}) cannot be read ({why})").format(
                out=out, state=STATE, why=exc
            ),
            _("use --replace to start over there, or a new --out"),
        ) from exc


def class_roster(out: Path) -> str | None:
    """The roster the class in --out was graded with, when it still exists (None otherwise)."""
    try:
        roster = json.loads((out / STATE).read_text(encoding="utf-8")).get("roster")
    except (OSError, ValueError, AttributeError):
        return None
    return roster if isinstance(roster, str) and Path(roster).is_file() else None


def save(out: Path, run: ClassRun) -> Path:
    return write_atomic(out / STATE, json.dumps(run.to_json(), default=str).encode())


_HELD: dict[Path, int] = {}  # --out folders this process holds, and the descriptor of each


def hold(out: Path) -> None:
    """Hold --out for this process's life (a lock on the folder itself: nothing is created), so
    that two runs into one class cannot lose each other's rows; a usage error when another holds
    it."""
    if out in _HELD:
        return
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(
            _("--out {out}: another tcplab grade is writing into it").format(out=out),
            _("wait for it to finish, or grade into another --out"),
        ) from None
    _HELD[out] = fd


def write_atomic(path: Path, data: bytes) -> Path:
    """Write through a temporary file renamed over `path`: a reader (or an interrupted run) sees the
    old file or the new one, never half of one. The name starts with '.' so it is never a student's.
    (No fsync: this guards against an interrupted tcplab, not against a power cut.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def compatible(run: ClassRun, labs: list[str], labs_dir: str | None, force: bool) -> None:
    """A run may merge into the class when its labs are the class's (or some of them) from the same
    labs folder; --force merges anyway (a new lab joins the class)."""
    if force:
        return
    extra = [lab for lab in labs if lab not in run.labs]
    if extra:
        raise UsageError(
            _("--out holds a class graded on {labs}, not on {extra}").format(
                labs=", ".join(run.labs), extra=", ".join(extra)
            ),
            _("--force adds the lab(s) to that class, --replace starts over, or use a new --out"),
        )
    if labs_dir != run.labs_dir:
        raise UsageError(
            _("--out holds a class graded with labs from {theirs}, not from {ours}").format(
                theirs=run.labs_dir or _("tcplab itself"), ours=labs_dir or _("tcplab itself")
            ),
            _("--force merges anyway, --replace starts over, or use a new --out"),
        )


def still_to_grade(run: ClassRun | None, keys: Iterable[Key]) -> list[Key]:
    """Of `keys`, those the class has no score for: never graded, or an environment error."""
    have = {} if run is None else run.outcomes
    return [k for k in keys if k not in have or have[k].verdict is Verdict.ENVIRONMENT_ERROR]


def merged(
    run: ClassRun | None,
    new: list[Outcome],
    settings: tuple[str, list[str], str | None],
    unreached: set[Key],
    considered: set[Key],
) -> ClassRun:
    """The class after this run: its outcomes replace those (student, lab) rows. What is pending
    is worked out again for the (student, lab) pairs this run `considered` (the folder's, or the
    students named): those it did not reach (`unreached`, when interrupted); the class's other
    pending pairs stay pending."""
    seed, labs, labs_dir = settings
    if run is None:
        run = ClassRun(seed, [], labs_dir)
    graded = {(o.student, o.lab) for o in new}
    pending = run.pending - considered - graded
    return ClassRun(
        seed=run.seed,
        labs=run.labs + [lab for lab in labs if lab not in run.labs],
        labs_dir=run.labs_dir if run.outcomes else labs_dir,
        outcomes={**run.outcomes, **{(o.student, o.lab): _known(o, run) for o in new}},
        pending=pending | (unreached - graded),
        similar=dict(run.similar),
        roster=run.roster,
        excel=run.excel,
        lang=run.lang,
    )


def _known(o: Outcome, run: ClassRun) -> Outcome:
    """A regraded outcome keeps who the class knew the student as (name, course id, email) when
    this run learnt nothing of them (no roster; a folder of one Classroom repository)."""
    old = run.outcomes.get((o.student, o.lab))
    if old is None or o.student_id or o.email or not (old.student_id or old.email):
        return o
    return dataclasses.replace(
        o, name=old.name, student_id=old.student_id, email=old.email, id_from=old.id_from
    )


# ---- history ------------------------------------------------------------------------------------


def _score(o: Outcome | None) -> dict[str, Any] | None:
    return None if o is None else {"score": o.score, "verdict": o.verdict.value}


def history_entry(
    meta: dict[str, Any], before: ClassRun | None, new: list[Outcome], replaced: bool
) -> dict[str, Any]:
    """One run, for history.jsonl: its facts, and each (student, lab) it graded, old and new."""
    old = {} if before is None or replaced else before.outcomes
    changes = [
        {"student": o.student, "name": o.display, "lab": o.lab,
         "old": _score(old.get((o.student, o.lab))), "new": _score(o)}
        for o in sorted(new, key=lambda o: (o.student, o.lab))
    ]  # fmt: skip
    return {
        "started": meta.get("started"),
        "finished": meta.get("finished"),
        "seed": meta.get("seed"),
        "tcplab_version": meta.get("tcplab_version"),
        "labs": meta.get("labs"),
        "labs_dir": meta.get("labs_dir"),
        "students": sorted({o.student for o in new}),
        "replaced": replaced,
        "interrupted": bool(meta.get("interrupted")),
        "graded": changes,
    }


def append_history(out: Path, entry: dict[str, Any]) -> Path:
    """One line added to history.jsonl, in one write (a torn last line is skipped when read)."""
    path = out / HISTORY
    line = json.dumps(entry, default=str, ensure_ascii=False) + "\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(line)
    return path


def read_history(out: Path) -> list[dict[str, Any]]:
    try:
        lines = (out / HISTORY).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line an interrupted write tore
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def history_summary(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs in short, for grade.json: when, seed, version, how many graded and how many
    (student, lab) changed score or verdict."""
    return [
        {
            "run": i,
            "started": e.get("started"),
            "finished": e.get("finished"),
            "seed": e.get("seed"),
            "tcplab_version": e.get("tcplab_version"),
            "labs": e.get("labs") or [],
            "students": len(e.get("students") or []),
            "graded": len(e.get("graded") or []),
            "changed": sum(
                1 for g in e.get("graded") or [] if g.get("old") not in (None, g.get("new"))
            ),
            "replaced": bool(e.get("replaced")),
            "interrupted": bool(e.get("interrupted")),
        }
        for i, e in enumerate(entries, 1)
    ]


# ---- what a run grades, and what it leaves ----------------------------------------------------


def to_grade(chosen: list[Submission], before: ClassRun | None, named: bool) -> list[Submission]:
    """What this run grades: the students named, or the whole folder; but when the class in
    --out was interrupted and no student is named, only what it has no score for (resuming)."""
    if named or before is None or not before.interrupted:
        return chosen
    missing = set(still_to_grade(before, [(s.student, s.lab.name) for s in chosen]))
    return [s for s in chosen if (s.student, s.lab.name) in missing]


def remove_folders(out: Path, before: ClassRun, after: ClassRun) -> None:
    """--replace: the folders of the old class's students who are not in the new one."""
    from tcplab.grade.outputs import student_dir

    gone = {s for s, _ in before.outcomes} - {s for s, _ in after.outcomes}
    for student in sorted(gone):
        folder = student_dir(out, student)
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)


def whole_labs(found: list[Submission], labs: list[LabDef], after: ClassRun) -> list[LabDef]:
    """The labs whose every student in the class is in SUBMISSIONS (`found`): their similarity
    hints are worked out again; a folder of a few students keeps the class's hints as they were."""
    here = {(s.student, s.lab.name) for s in found}
    return [lab for lab in labs if {k for k in after.outcomes if k[1] == lab.name} <= here]


def similarity(found: list[Submission], labs: list[LabDef]) -> dict[str, list[dict[str, Any]]]:
    """Each lab's similarity hints over every submission in the folder (not only those graded
    now), read as the grader reads them; a file that cannot be read is left out."""
    from tcplab.grade.similar import similar
    from tcplab.grade.submission import Unusable, read_solution

    hints = {}
    for lab in labs:
        sources = {}
        for s in found:
            if s.lab.name == lab.name and s.path is not None and s.problem is None:
                try:
                    sources[s.student] = read_solution(s.path)
                except Unusable:
                    continue
        given = [p.read_bytes() for p in (lab.starter, lab.solution) if p.is_file()]
        hints[lab.name] = [c.to_json() for c in similar(lab.name, sources, given)]
    return hints
