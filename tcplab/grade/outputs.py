"""Everything `tcplab grade` writes into --out, from the Outcomes of one run.

For the instructor: gradebook.csv, grade.json (the whole run) and junit.xml (the whole class).
For each student, in out/STUDENT/: results.json (Gradescope), prairielearn.json (PrairieLearn),
classroom.json (GitHub Classroom's grading reporter), report.md and report.html.

Each course tool's format is described by a JSON Schema in schemas/ that the tests hold the
writers to. Student output can hold anything: XML gets the characters XML 1.0 forbids stripped,
HTML is escaped, Markdown puts it in fences it cannot close. The ladder's pictures (an SVG in
report.html, a Mermaid block in report.md) are drawn from the engine's Report kept on the Outcome
(tcplab.draw), which escapes every text it draws.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import posixpath
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from tcplab import junit
from tcplab import text as untrusted
from tcplab.draw import exchange, mermaid
from tcplab.draw.svg import CJK_FONTS, inline
from tcplab.engine.ladder import Ladder, build
from tcplab.errors import UsageError
from tcplab.exercise.kit import HIDDEN_TITLE, ScoredCheck, Visibility
from tcplab.grade.merge import write_atomic
from tcplab.grade.outcome import Outcome, Verdict, verdict_words
from tcplab.i18n import ENGLISH, N_, _, language

GRADEBOOK_COLUMNS = (
    "student",
    "name",
    "student_id",
    "lab",
    "score",
    "max_score",
    "verdict",
    "message",
    "wall_s",
    "cpu_s",
    "peak_memory_mib",
    "full_marks",
)
SCHEMAS = ("gradescope", "prairielearn", "classroom", "grade")
MIB = 1024 * 1024

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~])")
_NO_LADDER = N_("No segments were observed.")
# headings and words of the reports (named once: an f-string cannot hold a marked literal)
_SCORE = N_("score")
_CHECKS = N_("Checks")
_LADDER_DIAGRAM = N_("Ladder diagram")
_CAPTURE = N_("Capture")
_ENV_RUN = N_("Environment of this run")
_ENVIRONMENT = N_("Environment")
_NONE = N_("(none)")
_EMPTY = N_("(empty)")
_NO_CHECKS = N_("No checks ran: {message}")
_NO_CAPTURE = N_("No capture was kept.")


# ---- shared helpers ------------------------------------------------------------------------


def clean(text: object) -> str:
    """Student text made safe to write anywhere: no control characters (ESC, C1, bidi overrides...;
    newlines and tabs stay, see tcplab.text) and nothing XML 1.0 forbids."""
    return junit.xml_safe(untrusted.block(text))


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one output: gradescope, prairielearn, classroom or grade."""
    if name not in SCHEMAS:
        raise UsageError(
            _("no schema named {name}").format(name=repr(name)),
            hint=_("one of: {names}").format(names=", ".join(SCHEMAS)),
        )
    file = resources.files("tcplab.grade").joinpath(f"schemas/{name}.schema.json")
    loaded: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return loaded


def student_dir(out: Path, student: str) -> Path:
    """out/STUDENT, refusing any name that is not one plain folder name inside `out`."""
    folder = out / student
    if not _SAFE_NAME.fullmatch(student) or folder.resolve().parent != out.resolve():
        raise UsageError(
            _("student name {name} is not a safe folder name").format(name=repr(student)),
            hint=_("letters, digits, '.', '_' and '-' only, not starting with '.'"),
        )
    return folder


def _key(o: Outcome) -> tuple[str, str]:
    return (o.student, o.lab)


def who(o: Outcome) -> str:
    """The student as people read it, unique in the class: the display name, and the internal id
    when that is not the same ("Wei Zhang (wzhang)")."""
    name = untrusted.line(o.display)
    return name if name == o.student else f"{name} ({o.student})"


def _lab_numbers(outcomes: Iterable[Outcome], meta: dict[str, Any]) -> dict[str, int]:
    """1-based lab numbers: the run's labs in their order, then any others by name."""
    labs = [str(lab) for lab in meta.get("labs") or []]
    extra = sorted({o.lab for o in outcomes} - set(labs))
    return {lab: i for i, lab in enumerate(labs + extra, 1)}


def _by_student(outcomes: list[Outcome], meta: dict[str, Any]) -> dict[str, list[Outcome]]:
    numbers = _lab_numbers(outcomes, meta)
    groups: dict[str, list[Outcome]] = {}
    for o in sorted(outcomes, key=lambda o: (o.student, numbers[o.lab])):
        groups.setdefault(o.student, []).append(o)
    return groups


def _env_error(o: Outcome) -> bool:
    return o.verdict is Verdict.ENVIRONMENT_ERROR


def _ungraded(o: Outcome) -> bool:
    """True when there are no checks to report: one 'graded' line stands for the lab."""
    return _env_error(o) or not o.checks


def _earned(outcomes: Iterable[Outcome]) -> int:
    return sum(o.score or 0 for o in outcomes)


def _verdict_words(v: Verdict) -> str:
    return verdict_words(v)


def _score_words(o: Outcome) -> str:
    if o.score is None:
        return _("not graded")
    return _("{score} / {max_score}").format(score=o.score, max_score=o.max_score)


def _regrade_note(outcomes: Iterable[Outcome]) -> str:
    labs = [o.lab for o in outcomes if _env_error(o)]
    if not labs:
        return ""
    return _(
        "{labs}: not graded because the grading machine failed, not because of your "
        "solution. This does not count against you; it will be graded again."
    ).format(labs=", ".join(labs))


# A check's texts as people read them: the kit marks a lab's titles, why and hints for the
# catalog; what is already translated (or a message built at run time) is shown as it is.
def _title(r: ScoredCheck) -> str:
    return _(r.title) if r.title else ""


def _why(r: ScoredCheck) -> str:
    return _(r.why) if r.why else ""


def _hint(r: ScoredCheck) -> str:
    return _(r.hint) if r.hint else ""


def _detail(r: ScoredCheck) -> str:
    return _(r.detail) if r.detail else ""


def _check_key(r: ScoredCheck) -> str:
    """The check's name where a course tool reads it as a key (JUnit, test names): English."""
    return str(getattr(r, "key", "") or r.title)


def _lab_title(o: Outcome) -> str:
    return _(o.lab_title) if o.lab_title else ""


def _pcap_link(o: Outcome) -> str | None:
    """The capture's path relative to the student's folder (pcap is relative to --out)."""
    if not o.pcap:
        return None
    path = o.pcap.replace("\\", "/")
    if posixpath.isabs(path):
        return path
    return posixpath.relpath(posixpath.normpath(path), o.student)


def _write_text(path: Path, text: str) -> Path:
    # atomic (temporary file + rename): an interrupted run never leaves half a file
    return write_atomic(path, text.encode("utf-8", errors="replace"))


def _write_json(path: Path, data: Any) -> Path:
    return _write_text(path, json.dumps(data, indent=2, default=str) + "\n")


# ---- gradebook.csv -------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """A cell a spreadsheet shows as text: one line, never read as a formula."""
    return untrusted.cell(clean(text))


def gradebook_rows(outcomes: list[Outcome]) -> list[dict[str, str]]:
    """One row per (student, lab), sorted by student then lab."""
    return [
        {
            "student": o.student,
            "name": _one_line(o.display),
            "student_id": _one_line(o.student_id),
            "lab": o.lab,
            "score": "" if o.score is None else str(o.score),
            "max_score": str(o.max_score),
            "verdict": o.verdict.value,
            "message": _one_line(o.message),
            "wall_s": f"{o.wall_s:.3f}",
            "cpu_s": f"{o.cpu_s:.3f}",
            "peak_memory_mib": f"{o.peak_memory / MIB:.1f}",
            "full_marks": "true" if o.full_marks else "false",
        }
        for o in sorted(outcomes, key=_key)
    ]


def write_gradebook(out: Path, outcomes: list[Outcome]) -> Path:
    f = io.StringIO(newline="")
    writer = csv.DictWriter(f, fieldnames=GRADEBOOK_COLUMNS)
    writer.writeheader()
    writer.writerows(gradebook_rows(outcomes))
    return _write_text(out / "gradebook.csv", f.getvalue())


# ---- grade.json ----------------------------------------------------------------------------


def grade_json(
    outcomes: list[Outcome], meta: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The whole run: its facts, every outcome, and totals (and `extra` top-level sections: the
    history of runs and the similarity hints, see grade/merge.py and grade/similar.py)."""
    ordered = sorted(outcomes, key=_key)
    by_verdict = Counter(o.verdict.value for o in ordered)
    return {
        "meta": meta,
        "outcomes": [_clean_tree(o.to_json()) for o in ordered],
        "totals": {
            "submissions": len(ordered),
            "by_verdict": {v.value: by_verdict[v.value] for v in Verdict},
            "full_marks": sum(o.full_marks for o in ordered),
            "environment_errors": sum(_env_error(o) for o in ordered),
            "flagged": sum(bool(o.flags) for o in ordered),
        },
        **(extra or {}),
    }


def _clean_tree(value: Any) -> Any:
    """Every string in a JSON tree cleaned (student text can be anywhere: output, details...)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: _clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_tree(v) for v in value]
    return value


def write_grade_json(
    out: Path, outcomes: list[Outcome], meta: dict[str, Any], extra: dict[str, Any] | None = None
) -> Path:
    return _write_json(out / "grade.json", grade_json(outcomes, meta, extra))


# ---- junit.xml -----------------------------------------------------------------------------


def _case(o: Outcome, name: str, problem: junit.Problem | None = None) -> junit.Case:
    return junit.Case(clean(f"{who(o)}.{o.lab}"), clean(name), time=0.0, problem=problem)


def _check_case(o: Outcome, r: ScoredCheck) -> junit.Case:
    if r.ok:
        return _case(o, _check_key(r))
    return _case(
        o,
        _check_key(r),
        junit.Problem(clean(_hint(r) or _detail(r) or _("check failed")), clean(_detail(r))),
    )


def _graded_case(o: Outcome) -> junit.Case:
    """The one testcase of a lab without checks: an error, a failure, or a pass."""
    if o.full_marks and not _env_error(o):
        return _case(o, "graded")
    problem = junit.Problem(clean(o.message), clean(o.stderr), o.verdict.value, _env_error(o))
    return _case(o, "graded", problem)


def _suite(o: Outcome) -> junit.Suite:
    properties = (
        ("student", o.student),
        ("verdict", o.verdict.value),
        ("message", clean(o.message)),
        ("score", "" if o.score is None else str(o.score)),
        ("max_score", str(o.max_score)),
    )
    cases = [_graded_case(o)] if _ungraded(o) else [_check_case(o, r) for r in o.checks]
    return junit.Suite(
        clean(f"{who(o)}/{o.lab}"), cases, properties, clean(o.stdout), clean(o.stderr),
        o.wall_s, skipped=0,
    )  # fmt: skip


def junit_xml(outcomes: list[Outcome], name: str = "tcplab grade") -> bytes:
    """<testsuites> for the class: one <testsuite> per (student, lab), one <testcase> per check."""
    suites = [_suite(o) for o in sorted(outcomes, key=_key)]
    return junit.suites_xml(name, suites, indent=True)


def write_junit(out: Path, outcomes: list[Outcome], partial: bool = False) -> Path:
    name = "tcplab grade (partial: interrupted)" if partial else "tcplab grade"
    return write_atomic(out / "junit.xml", junit_xml(outcomes, name))


# ---- Markdown pieces (Gradescope and report.md) --------------------------------------------


def md(text: object) -> str:
    """Inline Markdown for any text: one line, with what Markdown or HTML would act on escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(clean(text).split()))


def fence(text: str, info: str = "text") -> str:
    """A fenced code block that `text` cannot close: the fence is longer than any backtick run."""
    body = clean(text).replace("\r\n", "\n").replace("\r", "\n")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    bar = "`" * max(3, longest + 1)
    if not body.endswith("\n"):
        body += "\n"
    return f"{bar}{info}\n{body}{bar}\n"


# ---- results.json (Gradescope) -------------------------------------------------------------


def _gs_output(r: ScoredCheck) -> str:
    parts = [_why(r)] if r.why else []
    if r.detail:
        parts.append(_("Observed:") + "\n\n" + fence(_detail(r)))
    if not r.ok and r.hint:
        parts.append(_("**Hint:** {hint}").format(hint=_hint(r)))
    return "\n\n".join(parts)


def _gs_test(
    lab: str, number: str, name: str, score: int, max_score: int, passed: bool, output: str,
    visibility: Visibility = Visibility.VISIBLE,
) -> dict[str, Any]:  # fmt: skip
    return {
        "name": clean(f"{lab}: {name}"),
        "number": number,
        "score": score,
        "max_score": max_score,
        "status": "passed" if passed else "failed",
        "output": output,
        "output_format": "md",
        "visibility": visibility.value,  # Gradescope hides the test itself; the score counts
        "tags": [lab],
    }


def _graded_words(o: Outcome) -> str:
    """Why a lab has no checks to show: its verdict and message, and a regrade promise if due."""
    words = _("{verdict}: {message}").format(verdict=_verdict_words(o.verdict), message=o.message)
    if _env_error(o):
        words += _(" (the grading machine failed; this does not count and will be graded again)")
    return words


def _gs_tests(o: Outcome, lab_no: int) -> list[dict[str, Any]]:
    if _ungraded(o):
        output = md(_graded_words(o))
        score = o.score or 0
        return [_gs_test(o.lab, f"{lab_no}.1", "graded", score, o.max_score, o.full_marks, output)]
    return [
        _gs_test(
            o.lab,
            f"{lab_no}.{i}",
            _check_key(r),
            r.earned,
            r.points,
            r.ok,
            _gs_output(r),
            r.visibility,
        )  # fmt: skip
        for i, r in enumerate(o.checks, 1)
    ]


def _gs_summary(outcomes: list[Outcome]) -> str:
    total = sum(o.max_score for o in outcomes)
    lines = [
        _("**{earned} of {total} points** over {labs} lab(s).").format(
            earned=_earned(outcomes), total=total, labs=len(outcomes)
        ),
        "",
    ]
    for o in outcomes:
        lines.append(
            _("- **{lab}** ({title}): {verdict}, {score}. {message}").format(
                lab=md(o.lab),
                title=md(_lab_title(o)),
                verdict=_verdict_words(o.verdict),
                score=_score_words(o),
                message=md(o.message),
            )
        )
    note = _regrade_note(outcomes)
    summary = "\n".join(lines) + ("\n\n**" + md(note) + "**" if note else "")
    errors = [o for o in outcomes if o.stderr and o.verdict is not Verdict.SCORED]
    return summary + "".join(
        "\n\n" + _("stderr of {lab}:").format(lab=md(o.lab)) + f"\n\n{fence(o.stderr)}"
        for o in errors
    )


def gradescope_results(outcomes: list[Outcome], meta: dict[str, Any]) -> dict[str, Any]:
    """Gradescope's results.json for one student: one test per check, tagged with its lab."""
    numbers = _lab_numbers(outcomes, meta)
    return {
        "score": _earned(outcomes),
        "execution_time": round(sum(o.wall_s for o in outcomes)),
        "output": _gs_summary(outcomes),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "tcplab_version": str(meta.get("tcplab_version", "")),
            "labs": {
                o.lab: {"verdict": o.verdict.value, "score": o.score, "max_score": o.max_score}
                for o in outcomes
            },
        },
        "tests": [t for o in outcomes for t in _gs_tests(o, numbers[o.lab])],
    }


# ---- prairielearn.json ---------------------------------------------------------------------


def _pl_message(outcomes: list[Outcome]) -> str:
    total = sum(o.max_score for o in outcomes)
    note = _regrade_note(outcomes)
    words = _("{earned} of {total} points.").format(earned=_earned(outcomes), total=total)
    return words + (f" {note}" if note else "")


def _pl_output(outcomes: list[Outcome]) -> str:
    """Plain text (PrairieLearn shows it preformatted): each lab, then what the solution printed."""
    parts = []
    for o in outcomes:
        parts.append(
            _("{lab} ({title}): {verdict}, {score}").format(
                lab=o.lab,
                title=_lab_title(o),
                verdict=_verdict_words(o.verdict),
                score=_score_words(o),
            )
        )
        parts.append(f"  {o.message}")
        for name, text in (("stdout", o.stdout), ("stderr", o.stderr)):
            if text:
                head = _("--- {stream} of {lab} ---").format(stream=name, lab=o.lab)
                parts.append(f"{head}\n{text.rstrip()}")
    return clean("\n".join(parts) + "\n")


def _pl_tests(o: Outcome) -> list[dict[str, Any]]:
    if _ungraded(o):
        return [
            {
                "name": clean(f"{o.lab}: graded"),
                "description": clean(_lab_title(o)),
                "points": o.score or 0,
                "max_points": o.max_score,
                "message": clean(_graded_words(o)),
                "output": clean(o.stderr),
            }
        ]
    tests = [
        {
            "name": clean(f"{o.lab}: {_check_key(r)}"),
            "description": clean(_why(r)),
            "points": r.earned,
            "max_points": r.points,
            "message": "" if r.ok else clean(_hint(r) or _detail(r)),
            "output": clean(_detail(r)),
        }
        for r in o.checks
        if r.shown
    ]
    hidden = [r for r in o.checks if not r.shown]
    if hidden:  # PrairieLearn shows every test: hidden checks are one line, their points only
        tests.append(
            {
                "name": clean(f"{o.lab}: {HIDDEN_TITLE}s"),
                "description": _("checks whose details are not shown"),
                "points": sum(r.earned for r in hidden),
                "max_points": sum(r.points for r in hidden),
                "message": "",
                "output": "",
            }
        )
    return tests


def prairielearn_results(outcomes: list[Outcome]) -> dict[str, Any]:
    """PrairieLearn's external grader results: score is a fraction, not gradable on our failure."""
    total = sum(o.max_score for o in outcomes)
    fraction = _earned(outcomes) / total if total else 0.0
    return {
        "gradable": not any(_env_error(o) for o in outcomes),
        "score": min(1.0, max(0.0, fraction)),
        "message": clean(_pl_message(outcomes)),
        "output": _pl_output(outcomes),
        "tests": [t for o in outcomes for t in _pl_tests(o)],
    }


# ---- classroom.json (GitHub Classroom) -----------------------------------------------------


def _cr_test(o: Outcome, name: str, status: str, score: int, message: str) -> dict[str, Any]:
    return {
        "name": clean(f"{o.lab}: {name}"),
        "status": status,
        "score": score,
        "message": clean(message),
        "test_code": f"tcplab grade --lab {o.lab}",
        "filename": f"{o.lab}.py",
        "line_no": 0,
        "execution_time": "0.00s",
    }


def _cr_points(
    o: Outcome, name: str, points: int, earned: int, message: str
) -> list[dict[str, Any]]:
    """One test per point (see classroom_results); the message on the first failed one only."""
    failed = "error" if _env_error(o) else "fail"
    first = _cr_test(o, name, failed, 0, message)  # cleaned once, copied per point
    tests = []
    for i in range(1, points + 1):
        test = {**first, "status": "pass" if i <= earned else failed, "score": int(i <= earned)}
        if points > 1:
            test["name"] = f"{first['name']} ({i} of {points})"
        if i != earned + 1:
            test["message"] = ""
        tests.append(test)
    return tests


def _cr_tests(o: Outcome) -> list[dict[str, Any]]:
    if _ungraded(o):
        tests = _cr_points(o, "graded", o.max_score, o.score or 0, _graded_words(o))
    else:
        shown = [r.for_students() for r in o.checks]  # the Actions log is the student's to read
        tests = [
            t
            for r in shown
            for t in _cr_points(o, _check_key(r), r.points, r.earned, _cr_message(r))
        ]
    if tests:
        tests[0]["execution_time"] = f"{o.wall_s:.2f}s"  # the lab's time, counted once
    return tests


_CR_EMPTY = {
    "name": "graded", "status": "pass", "score": 0, "message": "", "test_code": "tcplab grade",
    "filename": "", "line_no": 0, "execution_time": "0.00s",
}  # fmt: skip


def _cr_message(r: ScoredCheck) -> str:
    if r.ok:
        return ""
    hint, detail = _hint(r), _detail(r)
    if detail and hint:
        return _("{hint} ({detail})").format(hint=hint, detail=detail)
    return hint or detail


def classroom_results(outcomes: list[Outcome]) -> dict[str, Any]:
    """The runner result autograding-grading-reporter reads. It records the sum of the tests'
    scores out of max_score, but logs (tests passed / tests) * max_score: with one test per
    point, both are the points earned (tests/unit/test_grade_courses.py recomputes both)."""
    if any(_env_error(o) for o in outcomes):
        status = "error"
    else:
        status = "pass" if all(o.full_marks for o in outcomes) else "fail"
    tests = [t for o in outcomes for t in _cr_tests(o)]
    if not tests:  # no points at all: one test, so that the log divides by one, not zero
        tests = [_cr_test(outcomes[0], "graded", status, 0, "") if outcomes else dict(_CR_EMPTY)]
    return {
        "version": 1,
        "status": status,
        "max_score": sum(o.max_score for o in outcomes),
        "tests": tests,
    }


# ---- the reports: what both say -------------------------------------------------------------


def _header_facts(o: Outcome, meta: dict[str, Any]) -> list[tuple[str, str]]:
    ids = [(_("id"), o.student)] if o.display != o.student else []
    ids += [(k, v) for k, v in ((_("student id"), o.student_id), (_("email"), o.email)) if v]
    return [
        (_("student"), o.display),
        *ids,
        ("tcplab", str(meta.get("tcplab_version", ""))),
        (_("kernel"), str(meta.get("kernel", ""))),
        (_("seed"), str(o.environment.get("seed") or meta.get("seed", ""))),  # the run's own
        (_("date"), str(meta.get("finished") or meta.get("started") or "")),
    ]


def _exit_words(o: Outcome) -> str:
    if o.signal is not None:
        return _("killed by {signal}").format(signal=o.signal_name)
    if o.exit_code is None:
        return _("did not run")
    return _("status {status}").format(status=o.exit_code)


def _run_facts(o: Outcome) -> list[tuple[str, str]]:
    facts = [
        (_("exit"), _exit_words(o)),
        (_("wall time"), f"{o.wall_s:.2f} s"),
        (_("CPU time"), f"{o.cpu_s:.2f} s"),
        (_("peak memory"), f"{o.peak_memory / MIB:.1f} MiB"),
    ]
    if o.ports:
        facts.append((_("your ports"), ", ".join(str(p) for p in o.ports)))
    if o.isn is not None:
        facts.append((_("suggested ISN"), str(o.isn)))
    if o.port_rule:
        facts.append((_("port rule"), _(str(o.port_rule.get("text", "")))))
    elif o.foreign_segments:
        facts.append((_("segments from other ports (ignored)"), str(o.foreign_segments)))
    return facts


def _mapping_facts(mapping: object) -> list[tuple[str, str]]:
    if not isinstance(mapping, dict):
        return []
    return [
        (str(k), v if isinstance(v, str) else json.dumps(v, default=str))
        for k, v in sorted(mapping.items(), key=lambda kv: str(kv[0]))
    ]


def _env_sections(meta: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    run = [(_("kernel"), str(meta.get("kernel", ""))), (_("jobs"), str(meta.get("jobs", "")))]
    run += [
        (_("started"), str(meta.get("started", ""))),
        (_("finished"), str(meta.get("finished", ""))),
    ]
    return [
        (_("Run"), run),
        (_("Limits"), _mapping_facts(meta.get("limits"))),
        (_("Sysctls"), _mapping_facts(meta.get("sysctl"))),
    ]


def _ladder(o: Outcome) -> Ladder | None:
    """The exchange of this lab as a Ladder, when the engine's Report is there (a fresh run)."""
    return None if o.report is None else build(o.report)


# ---- report.md -----------------------------------------------------------------------------


def _md_facts(facts: list[tuple[str, str]]) -> str:
    if not facts:
        return _(_NONE) + "\n"
    return "".join(f"- **{md(k)}**: {md(v)}\n" for k, v in facts)


def _md_checks(o: Outcome) -> str:
    if not o.checks:
        return _(_NO_CHECKS).format(message=md(o.message)) + "\n"
    rows = [_("| | points | check | detail | hint | why |"), "|---|---|---|---|---|---|"]
    for r in (r.for_students() for r in o.checks):
        mark, hint = ("✓", "") if r.ok else ("✗", _hint(r))
        cells = [mark, f"{r.earned}/{r.points}", _title(r), _detail(r), hint, _why(r)]
        rows.append("| " + " | ".join(md(c) for c in cells) + " |")
    return "\n".join(rows) + "\n"


def _md_capture(o: Outcome) -> str:
    link = _pcap_link(o)
    if link is None:
        return _(_NO_CAPTURE) + "\n"
    return f"[{md(posixpath.basename(link))}]({urllib.parse.quote(link)})\n"


def _md_ladder(o: Outcome) -> str:
    """The ladder as a Mermaid diagram (GitHub draws it), then as text."""
    drawn = _ladder(o)
    picture = fence(mermaid.sequence(drawn), "mermaid") if drawn and drawn.steps else ""
    text = fence(o.ladder_text) if o.ladder_text.strip() else ""
    if not (picture or text):
        return _(_NO_LADDER) + "\n"
    return "\n".join(p for p in (picture, text) if p)


def _md_lab(o: Outcome) -> str:
    ladder = _md_ladder(o)
    parts = [
        f"## {md(o.lab)}: {md(_lab_title(o))}\n",
        f"**{_verdict_words(o.verdict)}**: {md(o.message)}\n",
        f"**{_(_SCORE)}**: {_score_words(o)}\n",
        _md_facts(_run_facts(o)),
        f"### {_(_CHECKS)}\n",
        _md_checks(o),
        f"### {_(_LADDER_DIAGRAM)}\n",
        ladder,
        f"### {_(_CAPTURE)}\n",
        _md_capture(o),
    ]
    for name, text in (("stdout", o.stdout), ("stderr", o.stderr)):
        parts += [f"### {name}\n", fence(text) if text else _(_EMPTY) + "\n"]
    if o.environment:
        parts += [
            f"### {_(_ENV_RUN)}\n",
            fence(json.dumps(o.environment, indent=2), "json"),
        ]
    return "\n".join(parts)


def report_markdown(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    """One student's report in Markdown."""
    first = outcomes[0]
    title = _("tcplab report: {student}").format(student=md(first.display))
    parts = [f"# {title}\n", _md_facts(_header_facts(first, meta))]
    note = _regrade_note(outcomes)
    if note:
        parts.append(f"> **{md(note)}**\n")
    parts += [_md_lab(o) for o in outcomes]
    parts.append(f"## {_(_ENVIRONMENT)}\n")
    for title, facts in _env_sections(meta):
        parts += [f"### {title}\n", _md_facts(facts)]
    return "\n".join(parts)


# ---- report.html ---------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 72rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; background: #fff; }
h1, h2, h3 { line-height: 1.2; }
section.lab { border-top: 2px solid #ccc; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .5rem; overflow-x: auto;
      white-space: pre-wrap; word-break: break-all; }
.ok { color: #1a7f37; } .bad { color: #c62828; }
.verdict { font-weight: bold; }
.v-scored { color: #1a7f37; } .v-environment_error { color: #8a6d00; }
.v-time_limit, .v-memory_limit, .v-runtime_error, .v-missing, .v-misnamed,
.v-refused { color: #c62828; }
.note { background: #fff8c5; border: 1px solid #d4a72c; padding: .5rem; }
.ladder { overflow-x: auto; margin: .5rem 0; }
.ladder svg { display: block; max-width: 100%; height: auto; }
@media (prefers-color-scheme: dark) {
  body { color: #e6e6e6; background: #15171a; }
  pre { background: #22252a; border-color: #3a3d44; }
  th, td { border-color: #3a3d44; }
  .note { background: #3a3210; border-color: #8a6d00; }
  a { color: #8ab4f8; }
}
dl { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; }
dt { font-weight: bold; } dd { margin: 0; }
"""


def h(text: object) -> str:
    """Text for HTML: escaped, quotes too, without characters XML forbids."""
    return html.escape(clean(text), quote=True)


def _html_facts(facts: list[tuple[str, str]]) -> str:
    if not facts:
        return f"<p>{h(_(_NONE))}</p>"
    items = "".join(f"<dt>{h(k)}</dt><dd>{h(v)}</dd>" for k, v in facts)
    return f"<dl>{items}</dl>"


def _html_pre(text: str) -> str:
    return f"<pre>{h(text)}</pre>" if text else f"<p>{h(_(_EMPTY))}</p>"


def _html_checks(o: Outcome) -> str:
    if not o.checks:
        return f"<p>{h(_(_NO_CHECKS).format(message=o.message))}</p>"
    names = (_("points"), _("check"), _("detail"), _("hint"), _("why"))
    head = "<tr><th></th>" + "".join(f"<th>{h(n)}</th>" for n in names) + "</tr>"
    rows = []
    for r in (r.for_students() for r in o.checks):
        mark = '<span class="ok">✓</span>' if r.ok else '<span class="bad">✗</span>'
        cells = [f"{r.earned}/{r.points}", _title(r), _detail(r), "" if r.ok else _hint(r), _why(r)]
        rows.append(f"<tr><td>{mark}</td>" + "".join(f"<td>{h(c)}</td>" for c in cells) + "</tr>")
    return f'<table class="checks"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _html_capture(o: Outcome) -> str:
    link = _pcap_link(o)
    if link is None:
        return f"<p>{h(_(_NO_CAPTURE))}</p>"
    href = h(urllib.parse.quote(link))
    return f'<p><a href="{href}">{h(posixpath.basename(link))}</a></p>'


def _html_ladder(o: Outcome) -> str:
    """The exchange's picture (sequence and state diagrams, SVG inline), then the ladder as text
    in a <details>; without the engine's Report, the ladder the CLI rendered (ladder_html)."""
    drawn = _ladder(o)
    if drawn is None or not drawn.steps:
        if o.ladder_html.strip():  # trusted: rich's HTML of what tcplab captured
            return f'<div class="ladder">{o.ladder_html}</div>'
        if o.ladder_text.strip():
            return f'<div class="ladder">{_html_pre(o.ladder_text)}</div>'
        return f"<p>{h(_(_NO_LADDER))}</p>"
    # its ids, unique in the page (the lab's name made safe, and a hash of it: a.b is not a_b)
    digest = hashlib.sha256(o.lab.encode()).hexdigest()[:6]
    prefix = "tls-" + re.sub(r"[^A-Za-z0-9_-]", "-", o.lab) + "-" + digest
    picture = f'<div class="ladder">{inline(exchange.document(drawn, prefix))}</div>'  # escaped
    if not o.ladder_text.strip():
        return picture
    text = _html_pre(o.ladder_text)
    summary = h(_("The ladder as text"))
    return picture + f"<details><summary>{summary}</summary>{text}</details>"


def _html_lab(o: Outcome) -> str:
    ladder = _html_ladder(o)
    parts = [
        f'<section class="lab" id="lab-{h(o.lab)}">',
        f"<h2>{h(o.lab)}: {h(_lab_title(o))}</h2>",
        f'<p><span class="verdict v-{h(o.verdict.value)}">{h(_verdict_words(o.verdict))}</span>'
        f": {h(o.message)}</p>",
        f"<p><strong>{h(_(_SCORE))}</strong>: {h(_score_words(o))}</p>",
        _html_facts(_run_facts(o)),
        f"<h3>{h(_(_CHECKS))}</h3>",
        _html_checks(o),
        f"<h3>{h(_(_LADDER_DIAGRAM))}</h3>",
        ladder,
        f"<h3>{h(_(_CAPTURE))}</h3>",
        _html_capture(o),
        f"<h3>stdout</h3>{_html_pre(o.stdout)}",
        f"<h3>stderr</h3>{_html_pre(o.stderr)}",
    ]
    if o.environment:
        env = _html_pre(json.dumps(o.environment, indent=2, default=str))
        summary = h(_(_ENV_RUN))
        parts.append(f"<details><summary>{summary}</summary>{env}</details>")
    return "\n".join(parts + ["</section>"])


def report_html(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    """One student's report as a standalone HTML page (inline CSS, nothing loaded from outside)."""
    first = outcomes[0]
    note = _regrade_note(outcomes)
    env = "".join(f"<h3>{h(t)}</h3>{_html_facts(f)}" for t, f in _env_sections(meta))
    title = h(_("tcplab report: {student}").format(student=first.display))
    body = [
        f"<h1>{title}</h1>",
        _html_facts(_header_facts(first, meta)),
        f'<p class="note">{h(note)}</p>' if note else "",
        *(_html_lab(o) for o in outcomes),
        f'<section class="env"><h2>{h(_(_ENVIRONMENT))}</h2>{env}</section>',
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang()}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_css()}</style>\n</head>\n"
        "<body>\n" + "\n".join(p for p in body if p) + "\n</body>\n</html>\n"
    )


def html_lang() -> str:
    """The language spoken, as HTML's lang attribute names it ("en", "zh-CN")."""
    return language().replace("_", "-")


def _css() -> str:
    """The report's CSS: in a language written in CJK characters, fonts that have them first."""
    if language() == ENGLISH:
        return _CSS
    return _CSS.replace("system-ui, sans-serif", f"system-ui, {CJK_FONTS}")


# ---- writing it all ------------------------------------------------------------------------


def write_gradescope(folder: Path, outcomes: list[Outcome], meta: dict[str, Any]) -> Path:
    return _write_json(folder / "results.json", gradescope_results(outcomes, meta))


def write_prairielearn(folder: Path, outcomes: list[Outcome]) -> Path:
    return _write_json(folder / "prairielearn.json", prairielearn_results(outcomes))


def write_classroom(folder: Path, outcomes: list[Outcome]) -> Path:
    return _write_json(folder / "classroom.json", classroom_results(outcomes))


def write_report_md(folder: Path, outcomes: list[Outcome], meta: dict[str, Any]) -> Path:
    return _write_text(folder / "report.md", report_markdown(outcomes, meta))


def write_report_html(folder: Path, outcomes: list[Outcome], meta: dict[str, Any]) -> Path:
    return _write_text(folder / "report.html", report_html(outcomes, meta))


def write_student(
    out: Path, student: str, outcomes: list[Outcome], meta: dict[str, Any]
) -> list[Path]:
    """out/STUDENT/ with the student's five files; `outcomes` must all be this student's."""
    others = sorted({o.student for o in outcomes} - {student})
    if others or not outcomes:
        raise UsageError(f"outcomes for {student!r} include none or others' ({others})")
    folder = student_dir(out, student)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_gradescope(folder, outcomes, meta),
        write_prairielearn(folder, outcomes),
        write_classroom(folder, outcomes),
        write_report_md(folder, outcomes, meta),
        write_report_html(folder, outcomes, meta),
    ]


def write_all(
    out: Path,
    outcomes: list[Outcome],
    meta: dict[str, Any],
    students: set[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write every output of a grading run into `out`; return the paths written. `outcomes` is the
    whole class; only the folders of `students` are written (None: everyone's), the others are
    left as they are (a merged run, grade/merge.py). `extra`: grade.json's top-level additions."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        write_gradebook(out, outcomes),
        write_grade_json(out, outcomes, meta, extra),
        write_junit(out, outcomes, partial=bool(meta.get("interrupted"))),
    ]
    for student, mine in _by_student(outcomes, meta).items():
        if students is None or student in students:
            paths += write_student(out, student, mine, meta)
    return paths
