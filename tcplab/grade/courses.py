"""The class's grades in the files a course's learning platform imports: canvas.csv (Canvas's
gradebook import) and moodle.csv (Moodle's "Import grades: CSV file"), one row per student and
one column per lab; and gradebook.csv with a byte order mark, so Excel reads it as UTF-8.

Canvas matches a row to a student by `ID` (Canvas's own number), `SIS User ID`, `SIS Login ID` or
the name in `Student`; a column it does not know becomes a new assignment, whose points come from
the `Points Possible` row. Moodle asks, at import, which column identifies the user ("Map from":
`ID number` to "idnumber", or `Email address` to "email") and which grade item each column fills
(the `LAB (feedback)` columns are feedback). The roster (--roster) gives the student ids and emails;
without one these columns are empty and only the name identifies a student.

An environment error leaves its cell empty, never 0: the submission is to be graded again. Pure: it
writes files, from Outcomes, nothing else.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tcplab import text as untrusted
from tcplab.grade.merge import write_atomic
from tcplab.grade.outcome import Outcome, verdict_words
from tcplab.grade.outputs import clean
from tcplab.i18n import _

CANVAS_ID_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_ID_COLUMNS = ("Full name", "ID number", "Email address")
BOM = "\ufeff"  # what Excel looks for to read a CSV as UTF-8 (Python's "utf-8-sig")


def _cell(value: object) -> str:
    """One line of text a spreadsheet shows as text, never runs as a formula."""
    return untrusted.cell(clean(value))


def _labs(outcomes: Iterable[Outcome], meta: dict[str, Any]) -> list[str]:
    """The run's labs in their order, then any others by name."""
    labs = [str(lab) for lab in meta.get("labs") or []]
    return labs + sorted({o.lab for o in outcomes} - set(labs))


def _students(outcomes: Iterable[Outcome]) -> dict[str, dict[str, Outcome]]:
    """student -> lab -> outcome, students in the order of their display names."""
    table: dict[str, dict[str, Outcome]] = {}
    for o in sorted(outcomes, key=lambda o: (o.display.casefold(), o.student)):
        table.setdefault(o.student, {})[o.lab] = o
    return table


def _score(o: Outcome | None) -> str:
    return "" if o is None or o.score is None else str(o.score)


def _max_scores(outcomes: Iterable[Outcome]) -> dict[str, int]:
    return {o.lab: o.max_score for o in outcomes}


def _person(mine: dict[str, Outcome]) -> Outcome:
    return next(iter(mine.values()))


def canvas_rows(outcomes: list[Outcome], meta: dict[str, Any]) -> list[list[str]]:
    """Canvas's gradebook CSV: the header, the Points Possible row, then one row per student."""
    labs, most = _labs(outcomes, meta), _max_scores(outcomes)
    rows = [[*CANVAS_ID_COLUMNS, *labs]]
    rows.append(["Points Possible", "", "", "", "", *(str(most.get(lab, "")) for lab in labs)])
    for mine in _students(outcomes).values():
        who = _person(mine)
        canvas = who.student_id if who.id_from == "canvas" else ""  # Canvas's own user id
        sis = who.student_id if who.id_from == "roster" else ""  # the course's id: the roster's
        ids = [who.display, canvas, sis, who.email, ""]
        rows.append([*(_cell(v) for v in ids), *(_score(mine.get(lab)) for lab in labs)])
    return rows


def moodle_rows(outcomes: list[Outcome], meta: dict[str, Any]) -> list[list[str]]:
    """Moodle's CSV grade import: identity columns, then each lab's score and its feedback."""
    labs = _labs(outcomes, meta)
    head = [*MOODLE_ID_COLUMNS, *(c for lab in labs for c in (lab, f"{lab} (feedback)"))]
    rows = [head]
    for mine in _students(outcomes).values():
        who = _person(mine)
        number = who.student_id if who.id_from == "roster" else ""  # not Moodle's participant no.
        row = [_cell(v) for v in (who.display, number, who.email)]
        for lab in labs:
            o = mine.get(lab)
            row += [_score(o), "" if o is None else _cell(_feedback(o))]
        rows.append(row)
    return rows


def _feedback(o: Outcome) -> str:
    score = _("not graded") if o.score is None else f"{o.score}/{o.max_score}"
    return _("{score}, {verdict}: {message}").format(
        score=score, verdict=verdict_words(o.verdict), message=o.message
    )


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _write(path: Path, rows: list[list[str]]) -> Path:
    return write_atomic(path, csv_text(rows).encode("utf-8", errors="replace"))


def add_bom(path: Path) -> Path:
    """Give a UTF-8 CSV a byte order mark (once), so Excel does not read it as the local code page."""
    data = path.read_bytes()
    if not data.startswith(BOM.encode()):
        write_atomic(path, BOM.encode() + data)
    return path


def write_course_files(
    out: Path, outcomes: list[Outcome], meta: dict[str, Any], excel: bool = False
) -> list[Path]:
    """canvas.csv and moodle.csv in `out`; with `excel`, gradebook.csv gets its BOM."""
    paths = [
        _write(out / "canvas.csv", canvas_rows(outcomes, meta)),
        _write(out / "moodle.csv", moodle_rows(outcomes, meta)),
    ]
    if excel and (out / "gradebook.csv").is_file():
        add_bom(out / "gradebook.csv")
    return paths
