"""tcplab grade: a whole class, each submission in its own testbed and sandbox; scores in --out."""

from __future__ import annotations

import io
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tcplab import __version__, text
from tcplab.cli.render import console, ladder
from tcplab.cli.tidy import stop_waiting, tidy
from tcplab.errors import EXIT_ENVIRONMENT, TcplabError, UsageError
from tcplab.exercise.catalog import LabDef, course_labs, get
from tcplab.grade.outcome import Outcome, Verdict

if TYPE_CHECKING:
    from tcplab.grade.grader import Settings
    from tcplab.grade.submission import Submission

COLORS = {
    Verdict.SCORED: "green",
    Verdict.TIME_LIMIT: "yellow",
    Verdict.MEMORY_LIMIT: "yellow",
    Verdict.RUNTIME_ERROR: "red",
    Verdict.ENVIRONMENT_ERROR: "magenta",
    Verdict.MISSING: "dim",
    Verdict.INVALID: "red",
}
LADDER_HTML = '<pre class="ladder">{code}</pre>'


def parse_labs(spec: str, labs_dir: str | None = None) -> list[LabDef]:
    """The labs named in --lab, from --labs DIR when given (else the shipped ones), with their
    checks loaded now: a broken lab is a usage error before anything is made."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UsageError("--lab is empty", "name one lab or several: --lab handshake,time-wait")
    if len(set(names)) != len(names):
        raise UsageError(f"--lab {spec}: a lab is named twice", "name each lab once")
    root = course_labs(labs_dir) if labs_dir is not None else None
    labs = [get(n, root) for n in names]
    for lab in labs:
        lab.checklist()
    return labs


def check_out(out: Path, submissions: Path, force: bool) -> None:
    sub, dest = submissions.resolve(), out.resolve()
    if dest == sub or sub in dest.parents:
        raise UsageError(
            f"--out {out} is inside the submissions folder", "write the results somewhere else"
        )
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"--out {out} is a file", "name a folder")
    if (dest / "gradebook.csv").exists() and not force:
        raise UsageError(
            f"--out {out} already holds a grading run", "use --force to replace it, or a new folder"
        )
    try:
        dest.mkdir(parents=True, exist_ok=True)
        probe = dest / ".tcplab-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write there ({exc.strerror})", "name another"
        ) from exc


def grade(
    submissions: str,
    labs_spec: str,
    out: str,
    jobs: int,
    seed: str | None,
    time_limit: float | None,
    memory: int,
    force: bool,
    json_out: bool,
    labs_dir: str | None = None,
    hint_level: int = 1,
    excel: bool = False,
) -> int:
    from tcplab.grade.grader import Settings, grade_all
    from tcplab.grade.submission import discover
    from tcplab.netns.topology import require_root
    from tcplab.sandbox.runner import Limits

    labs = parse_labs(labs_spec, labs_dir)
    if jobs < 1:
        raise UsageError(f"-j {jobs}: must be at least 1", "use -j 1 to grade one at a time")
    if time_limit is not None and not 0 < time_limit <= 3600:
        raise UsageError(f"--time-limit {time_limit:g}: must be in (0, 3600]", "give seconds")
    if not 64 <= memory <= 65536:
        raise UsageError(f"--memory {memory}: must be 64..65536 MiB", "the default is 256")
    subs, skipped = discover(Path(submissions), labs)
    require_root("grade")
    tidy()
    check_out(Path(out), Path(submissions), force)
    settings = Settings(
        labs=labs,
        out=Path(out).resolve(),
        jobs=jobs,
        seed=seed if seed is not None else secrets.token_hex(8),
        time_limit=time_limit,
        limits=Limits(memory=memory << 20),
        hint_level=hint_level,
    )
    for line in skipped:
        console().print(f"[yellow]skipped[/] {escape(line)}")
    outcomes: list[Outcome] = []
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    quiet = json_out
    if not quiet:
        console().print(
            f"grading {len({s.student for s in subs})} students × {len(labs)} lab(s), "
            f"{jobs} at a time, seed {settings.seed}"
        )

    def done(o: Outcome) -> None:
        outcomes.append(o)
        if not quiet:
            _progress(o, len(outcomes), len(subs))

    stop = threading.Event()
    interrupted = False
    try:
        grade_all(subs, settings, stop, done)
    except KeyboardInterrupt:
        stop_waiting(stop)
        interrupted = True
    except TcplabError as exc:  # the grader could not go on (its sandbox did not start...)
        for o in _not_graded(subs, outcomes, exc.message):
            done(o)
    meta = _meta(settings, labs, started, time.monotonic() - t0, skipped, interrupted)
    paths = _write(settings.out, outcomes, meta, excel)
    if json_out:
        typer.echo((settings.out / "grade.json").read_text())
    else:
        summary(outcomes, labs, meta, settings.out, len(paths))
    if interrupted:
        raise KeyboardInterrupt
    broken = any(o.verdict is Verdict.ENVIRONMENT_ERROR for o in outcomes)
    return EXIT_ENVIRONMENT if broken else 0


def _not_graded(subs: list[Submission], graded: list[Outcome], why: str) -> list[Outcome]:
    """An environment error outcome for each submission the grader did not get to."""
    done = {(o.student, o.lab) for o in graded}
    return [
        Outcome(
            s.student,
            s.lab.name,
            s.lab.title,
            Verdict.ENVIRONMENT_ERROR,
            f"not graded: {text.line(why, 300)}",
            s.lab.checklist().max_score,
            None,
        )  # fmt: skip
        for s in subs
        if (s.student, s.lab.name) not in done
    ]


def _progress(o: Outcome, n: int, total: int) -> None:
    """One line per submission; the message may quote a student's output: cleaned, escaped."""
    color = COLORS[o.verdict]
    score = "—" if o.score is None else f"{o.score}/{o.max_score}"
    message = escape(text.line(o.message, 160))
    console().print(
        f"  [{n:>{len(str(total))}}/{total}] {escape(o.student):<16} {escape(o.lab):<14} "
        f"{score:>7}  [{color}]{o.verdict.value}[/] [dim]{message}[/]"
    )


def _meta(
    settings: Settings,
    labs: list[LabDef],
    started: str,
    took: float,
    skipped: list[str],
    interrupted: bool,
) -> dict[str, Any]:
    import platform

    from tcplab.grade.grader import PINNED_SYSCTLS

    return {
        "tcplab_version": __version__,
        "kernel": platform.release(),
        "seed": settings.seed,
        "labs": [lab.name for lab in labs],
        "labs_dir": str(labs[0].dir.parent) if labs else None,
        "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(took, 2),
        "jobs": settings.jobs,
        "limits": {
            **{k: v for k, v in settings.limits.to_json().items() if k not in ("wall_s", "cpu_s")},
            "time_limit_s": settings.time_limit or "each lab's own",
        },
        "sysctl": PINNED_SYSCTLS,
        "skipped": skipped,
        "interrupted": interrupted,
    }


def _write(
    out: Path, outcomes: list[Outcome], meta: dict[str, Any], excel: bool = False
) -> list[Path]:
    from tcplab.grade import courses, outputs

    for o in outcomes:
        if o.report is not None:
            o.ladder_text, o.ladder_html = render_ladder(o.report)
    paths = outputs.write_all(out, outcomes, meta)
    return paths + courses.write_course_files(out, outcomes, meta, excel)


def render_ladder(report: Any) -> tuple[str, str]:
    """The ladder as plain text and as an HTML fragment (inline styles)."""
    con = Console(record=True, width=120, file=io.StringIO(), highlight=False, soft_wrap=True)
    ladder(report, show_checks=False, out=con)
    text = con.export_text(clear=False)
    html = con.export_html(inline_styles=True, code_format=LADDER_HTML)
    return text, html


def summary(
    outcomes: list[Outcome], labs: list[LabDef], meta: dict[str, Any], out: Path, files: int
) -> None:
    """The terminal summary: a table of students by labs, then counts and where the files are."""
    table = Table(title="tcplab grade", title_justify="left", box=None, pad_edge=False)
    table.add_column("student")
    for lab in labs:
        table.add_column(lab.name, justify="right")
    by_student: dict[str, dict[str, Outcome]] = {}
    for o in outcomes:
        by_student.setdefault(o.student, {})[o.lab] = o
    for student in sorted(by_student):
        cells = [_cell(by_student[student].get(lab.name)) for lab in labs]
        table.add_row(escape(student), *cells)
    console().print()
    console().print(table)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.verdict.value] = counts.get(o.verdict.value, 0) + 1
    full = sum(o.full_marks for o in outcomes)
    console().print(
        f"\n{len(outcomes)} graded in {meta['seconds']:.1f} s: {full} full marks; "
        + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    )
    flagged = [o for o in sorted(outcomes, key=lambda o: (o.student, o.lab)) if o.flags]
    if flagged:
        console().print(f"[bold red]{len(flagged)} flagged[/] (the score stands; look at these):")
        for o in flagged:
            why = escape(text.line("; ".join(o.flags), 200))
            console().print(f"  {escape(o.student)}/{escape(o.lab)}: {why}")
    if counts.get(Verdict.ENVIRONMENT_ERROR.value):
        console().print(
            "[magenta]environment errors are not the students': they have no score; "
            "grade those again[/]"
        )
    console().print(
        f"{files} files in {out}: gradebook.csv, junit.xml, grade.json, canvas.csv, moodle.csv, STUDENT/…"
    )


def _cell(o: Outcome | None) -> str:
    if o is None:
        return "[dim]not run[/]"
    color = COLORS[o.verdict]
    if o.verdict is Verdict.SCORED:
        mark = "" if o.full_marks else f" [{color}]·[/]"
        return f"{o.score}/{o.max_score}{mark}"
    score = "—" if o.score is None else f"{o.score}/{o.max_score}"
    return f"{score} [{color}]{o.verdict.value}[/]"
