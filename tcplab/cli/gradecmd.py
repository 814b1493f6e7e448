"""tcplab grade: a whole class, each submission in its own testbed and sandbox; scores in --out."""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tcplab import __version__, i18n, text
from tcplab.cli.render import console, ladder
from tcplab.cli.tidy import stop_waiting, tidy
from tcplab.cli.wrap import para
from tcplab.errors import EXIT_ENVIRONMENT, EXIT_KERNEL, TcplabError, UsageError
from tcplab.exercise.catalog import LabDef, course_labs, get
from tcplab.grade.outcome import Outcome, Verdict, shown_verdict
from tcplab.grade.roster import NOT_IN_ROSTER
from tcplab.grade.similar import Cluster
from tcplab.i18n import N_, _

if TYPE_CHECKING:
    from tcplab.grade.grader import Settings
    from tcplab.grade.merge import ClassRun
    from tcplab.grade.submission import Submission

COLORS = {
    Verdict.SCORED: "green",
    Verdict.TIME_LIMIT: "yellow",
    Verdict.MEMORY_LIMIT: "yellow",
    Verdict.RUNTIME_ERROR: "red",
    Verdict.ENVIRONMENT_ERROR: "magenta",
    Verdict.MISSING: "dim",
    Verdict.MISNAMED: "yellow",
    Verdict.REFUSED: "red",
}
LADDER_HTML = '<pre class="ladder">{code}</pre>'
# not scored: nothing was run (the gradebook has their rows; exit 1 says some are there)
NOT_RUN = (Verdict.MISSING, Verdict.MISNAMED, Verdict.REFUSED)
EXIT_NOT_SCORED = EXIT_KERNEL  # 1: the class was graded, but not every submission was run
NAME_COLUMNS, LAB_COLUMNS = 16, 14  # of a progress line
# TRANSLATORS: no score (an environment error); an ASCII "-" where "—" may be 2 columns wide
NO_SCORE = N_("—")
# TRANSLATORS: marks a score short of full marks; ASCII where "·" may be 2 columns wide
NOT_FULL = N_("·")


def parse_labs(spec: str, labs_dir: str | None = None) -> list[LabDef]:
    """The labs named in --lab, from --labs DIR when given (else the shipped ones), with their
    checks loaded now: a broken lab is a usage error before anything is made."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UsageError(
            _("--lab is empty"), _("name one lab or several: --lab handshake,time-wait")
        )
    if len(set(names)) != len(names):
        raise UsageError(
            _("--lab {spec}: a lab is named twice").format(spec=spec), _("name each lab once")
        )
    root = course_labs(labs_dir) if labs_dir is not None else None
    labs = [get(n, root) for n in names]
    for lab in labs:
        lab.checklist()
    return labs


def check_out(out: Path, submissions: Path, force: bool, replace: bool = False) -> ClassRun | None:
    """--out checked and made; the class it already holds (None: none, or --replace). Grading into
    a run merges (grade/merge.py); an older tcplab's run, without a record, needs --replace."""
    from tcplab.grade import merge

    sub, dest = submissions.resolve(), out.resolve()
    if dest == sub or sub in dest.parents:
        raise UsageError(
            _("--out {out} is inside the submissions folder").format(out=out),
            _("write the results somewhere else"),
        )
    if dest.exists() and not dest.is_dir():
        raise UsageError(_("--out {out} is a file").format(out=out), _("name a folder"))
    if dest.is_dir():
        merge.hold(dest)  # one run at a time into a class: two would lose each other's rows
    before = None if not dest.is_dir() else _loaded(dest, replace)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        probe = dest / ".tcplab-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            _("--out {out}: cannot write there ({why})").format(out=out, why=exc.strerror),
            _("name another"),
        ) from exc
    merge.hold(dest)
    return before


def _loaded(out: Path, replace: bool) -> ClassRun | None:
    """The class in --out; with --replace, whatever of it can be read (its folders are removed)."""
    from tcplab.grade import merge

    try:
        return merge.load(out)
    except UsageError:
        if replace:
            return None
        raise


def select(subs: list[Submission], names: list[str]) -> list[Submission]:
    """The submissions of the students named with --student (a folder's name, or the internal id);
    all of them when none is named. A name that is no student's is a usage error."""
    if not names:
        return subs

    def known(s: Submission) -> set[str]:
        """The internal id, and the real folder name and the name shown, as typed."""
        return {s.student} | ({s.who.name, s.who.folder} - {""} if s.who else set())

    everyone = set().union(*(known(s) for s in subs))
    unknown = [n for n in names if n not in everyone]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(everyone), n=3)
        raise UsageError(
            _("--student {name}: no such student folder in the submissions").format(
                name=unknown[0]
            ),
            _("did you mean {names}?").format(names=", ".join(close))
            if close
            else _("name a folder of SUBMISSIONS"),
        )
    return [s for s in subs if known(s) & set(names)]


@dataclass
class Plan:
    """What a run grades and into what: the folder's submissions (`found`), the students named
    (`chosen`), what is graded now (`subs`), the class in --out before (`before`) and the one this
    run merges into (`base`: None when there is none, or with --replace)."""

    labs: list[LabDef]
    labs_dir: str | None
    found: list[Submission]
    chosen: list[Submission]
    subs: list[Submission]
    skipped: list[str]
    before: ClassRun | None
    replace: bool
    named: bool
    roster: str | None = None  # the --roster file, recorded in grade.json's meta
    excel: bool = False  # gradebook.csv with a byte order mark
    lang: str = i18n.ENGLISH  # the course's language: every text this run writes speaks it

    @property
    def base(self) -> ClassRun | None:
        return None if self.replace else self.before


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
    roster: str | None = None,
    students: list[str] | None = None,
    replace: bool = False,
    excel: bool = False,
) -> int:
    from tcplab.grade.grader import Settings
    from tcplab.sandbox.runner import Limits

    labs = parse_labs(labs_spec, labs_dir)
    if jobs < 1:
        raise UsageError(
            _("-j {jobs}: must be at least 1").format(jobs=jobs),
            _("use -j 1 to grade one at a time"),
        )
    if time_limit is not None and not 0 < time_limit <= 3600:
        raise UsageError(
            _("--time-limit {seconds}: must be in (0, 3600]").format(seconds=f"{time_limit:g}"),
            _("give seconds"),
        )
    if not 64 <= memory <= 65536:
        raise UsageError(
            _("--memory {mib}: must be 64..65536 MiB").format(mib=memory), _("the default is 256")
        )
    plan = _plan(Path(submissions), labs, Path(out), students or [], force, replace, roster)
    plan.excel = plan.excel or excel  # once a class's gradebook has its BOM, it keeps it
    plan.lang, change = course_language(plan.before, asked_language())
    class_seed = plan.base.seed if plan.base else None
    settings = Settings(
        labs=labs,
        out=Path(out).resolve(),
        jobs=jobs,
        seed=seed if seed is not None else class_seed or secrets.token_hex(8),
        time_limit=time_limit,
        limits=Limits(memory=memory << 20),
        hint_level=hint_level,
    )
    for line in plan.skipped if not json_out else []:  # grade.json has them (meta.skipped)
        _say((_("skipped"), "yellow"), f" {text.line(line)}", hang="  ")
    if not json_out:
        if change:
            _say((change, "bold"), hang="  ")
        _say(_opening(plan, settings), hang="  ")
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    with children_speak(plan.lang):
        outcomes, interrupted = _grade_subs(plan.subs, settings, quiet=json_out)
    return _finish(plan, settings, outcomes, interrupted, (started, t0), json_out)


def asked_language() -> str | None:
    """The language asked for on purpose (--lang anywhere on the line, else TCPLAB_LANG as the
    user set it, before the command line passed its own on to the processes it starts); None when
    it only came from the locale."""
    from tcplab import cli

    asked = getattr(cli, "LANG_ASKED", None)
    if asked is None:  # not from tcplab's command line: the environment as it is
        asked = os.environ.get(i18n.LANG_ENV)
    return i18n.normalize(asked) if asked else None


def course_language(before: ClassRun | None, asked: str | None) -> tuple[str, str]:
    """The language this run grades in, and a line that says it changed ("" when it did not).
    A regrade keeps the class's recorded language unless one is asked for on purpose (--lang,
    TCPLAB_LANG): the locale of whoever regrades does not change a course's language."""
    recorded = before.lang if before is not None else None
    lang = asked or recorded or i18n.language()
    if lang != i18n.language():
        i18n.set_language(lang)
    if asked and recorded and asked != recorded:
        return lang, _("the course's language changes from {old} to {new}").format(
            old=recorded, new=asked
        )
    return lang, ""


@contextlib.contextmanager
def children_speak(lang: str) -> Iterator[None]:
    """Every process the grader starts (its zygote, the kernel host's application) inherits
    TCPLAB_LANG = `lang` while the class is graded; the solutions' jails get it in their own
    environment (grade/grader.py)."""
    old = os.environ.get(i18n.LANG_ENV)
    os.environ[i18n.LANG_ENV] = lang
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(i18n.LANG_ENV, None)
        else:
            os.environ[i18n.LANG_ENV] = old


def _plan(
    submissions: Path,
    labs: list[LabDef],
    out: Path,
    names: list[str],
    force: bool,
    replace: bool,
    roster: str | None = None,
) -> Plan:
    """The submissions, the students named, and the class in --out checked against this run."""
    from tcplab.grade import merge
    from tcplab.grade.roster import read_roster
    from tcplab.grade.submission import discover
    from tcplab.netns.topology import require_root

    if roster is None and not replace:
        roster = merge.class_roster(out)  # a regrade names the students as the class did
    rows = read_roster(roster) if roster is not None else None
    found, skipped = discover(submissions, labs, rows)
    chosen = select(found, names)
    require_root("grade")
    tidy()
    before = check_out(out, submissions, force, replace)
    labs_dir = str(labs[0].dir.parent) if labs else None
    if before is not None and not replace:
        merge.compatible(before, [lab.name for lab in labs], labs_dir, force)
    base = None if replace else before
    if base is not None and not names:  # a roster's student with no folder here keeps their row
        chosen = [s for s in chosen if s.path or not s.absent or _key(s) not in base.outcomes]
    subs = merge.to_grade(chosen, base, bool(names))
    plan = Plan(labs, labs_dir, found, chosen, subs, skipped, before, replace, bool(names))
    plan.roster = str(Path(roster).resolve()) if roster is not None else None
    plan.excel = bool(base and base.excel)
    return plan


def _key(s: Submission) -> tuple[str, str]:
    return (s.student, s.lab.name)


def _grade_subs(
    subs: list[Submission], settings: Settings, quiet: bool
) -> tuple[list[Outcome], bool]:
    """The outcomes of the submissions graded (all of them unless interrupted), and whether a
    Ctrl-C or SIGTERM stopped the run."""
    from tcplab.grade.grader import grade_all

    outcomes: list[Outcome] = []

    def done(o: Outcome) -> None:
        outcomes.append(o)
        if not quiet:
            _progress(o, len(outcomes), len(subs))
        if o.report is not None:  # now, while the other runs go on, not all at the end
            o.ladder_text, o.ladder_html = render_ladder(o.report)

    threading.Thread(target=_warm, daemon=True).start()
    stop = threading.Event()
    try:
        grade_all(subs, settings, stop, done)
    except KeyboardInterrupt:
        stop_waiting(stop)
        return outcomes, True
    except TcplabError as exc:  # the grader could not go on (its sandbox did not start...)
        for o in _not_graded(subs, outcomes, exc.message):
            done(o)
    return outcomes, False


def _warm() -> None:
    """The class files' modules (the pictures, the reports; ~0.3 s), imported while the first
    testbeds are built rather than after the last run. A failure is met again where they are used."""
    with contextlib.suppress(Exception):
        from tcplab.grade import courses, outputs  # noqa: F401


def _finish(
    plan: Plan,
    settings: Settings,
    outcomes: list[Outcome],
    interrupted: bool,
    clock: tuple[str, float],
    json_out: bool,
) -> int:
    """Merge this run into the class, find similar submissions, write every file, and tell."""
    from tcplab.grade import merge

    graded = {(o.student, o.lab) for o in outcomes}
    unreached = {(s.student, s.lab.name) for s in plan.subs} - graded
    labs = [lab.name for lab in plan.labs]
    considered = {(s.student, s.lab.name) for s in plan.chosen}
    after = merge.merged(
        plan.base, outcomes, (settings.seed, labs, plan.labs_dir), unreached, considered
    )
    after.roster, after.excel, after.lang = plan.roster, plan.excel, plan.lang
    handed_in = [s for s in plan.found if not s.absent]  # not a roster's student without a folder
    if not interrupted:
        try:
            whole = merge.whole_labs(handed_in, plan.labs, after)
            after.similar.update(merge.similarity(handed_in, whole))
        except KeyboardInterrupt:  # the grades are written all the same; the hints wait
            interrupted = True
    with _interrupts_held():
        meta = _meta(settings, after, clock[0], time.monotonic() - clock[1], plan.skipped)
        meta["roster"] = plan.roster
        if plan.replace and plan.before is not None:
            merge.remove_folders(settings.out, plan.before, after)
        entry = merge.history_entry(
            {**meta, "seed": settings.seed}, plan.before, outcomes, plan.replace
        )
        paths = _write(settings.out, after, outcomes, meta, entry, plan.excel)
    if json_out:
        typer.echo((settings.out / "grade.json").read_text())
    else:
        everyone = list(after.outcomes.values())
        summary(everyone, plan.labs, meta, settings.out, len(paths), graded=len(outcomes))
        _closing(after, outcomes, plan.base, plan.subs, interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return exit_code(list(after.outcomes.values()))  # the class as its files now say


def exit_code(outcomes: list[Outcome]) -> int:
    """3 when some submission could not be graded (grade it again), else 1 when some was not run
    (missing, misnamed, refused: its row is in every file), else 0, whatever the scores."""
    if any(o.verdict is Verdict.ENVIRONMENT_ERROR for o in outcomes):
        return EXIT_ENVIRONMENT
    return EXIT_NOT_SCORED if any(o.verdict in NOT_RUN for o in outcomes) else 0


def _opening(plan: Plan, settings: Settings) -> str:
    subs, chosen, base = plan.subs, plan.chosen, plan.base
    line = _("grading {students} students × {labs} lab(s), {jobs} at a time, seed {seed}").format(
        students=len({s.student for s in subs}),
        labs=len(plan.labs),
        jobs=settings.jobs,
        seed=settings.seed,
    )
    if base is not None and base.interrupted and len(subs) < len(chosen):
        line += _(" (finishing an interrupted run: {n} already graded)").format(
            n=len(chosen) - len(subs)
        )
    elif base is not None:
        line += _(" (into the class in --out: {n} students)").format(
            n=len({s for s, _lab in base.outcomes})
        )
    return line


def _not_graded(subs: list[Submission], graded: list[Outcome], why: str) -> list[Outcome]:
    """An environment error outcome for each submission the grader did not get to."""
    done = {(o.student, o.lab) for o in graded}
    return [
        Outcome(
            s.student,
            s.lab.name,
            s.lab.title,
            Verdict.ENVIRONMENT_ERROR,
            _("not graded: {why}").format(why=text.line(why, 300)),
            s.lab.checklist().max_score,
            None,
            name=s.who.name if s.who else "",
            student_id=s.who.student_id if s.who else "",
            email=s.who.email if s.who else "",
            id_from=s.who.id_source if s.who else "",
        )  # fmt: skip
        for s in subs
        if (s.student, s.lab.name) not in done
    ]


def _progress(o: Outcome, n: int, total: int) -> None:
    """One line per submission, as wide as the terminal: a long or wide (CJK) name is cut with an
    ellipsis; the message may quote a student's output: cleaned, escaped, cut to what is left."""
    color = COLORS[o.verdict]
    score = _(NO_SCORE) if o.score is None else f"{o.score}/{o.max_score}"
    verdict = shown_verdict(o.verdict)
    head = (
        f"  [{n:>{len(str(total))}}/{total}] {pad(o.display, NAME_COLUMNS)} "
        f"{pad(o.lab, LAB_COLUMNS)} {score:>7}  {verdict} "
    )
    room = console().width - text.columns(head)
    message = clip(text.line(o.message, 300), room) if room >= 10 else ""
    console().print(
        f"{escape(head[: -len(verdict) - 1])}[{color}]{verdict}[/] [dim]{escape(message)}[/]"
    )


def _meta(
    settings: Settings, after: ClassRun, started: str, took: float, skipped: list[str]
) -> dict[str, Any]:
    """grade.json's meta: the class's seed, labs and labs folder, this run's facts, and whether the
    class is partial (an interrupted run left submissions to grade)."""
    import platform

    from tcplab.grade import merge
    from tcplab.grade.grader import PINNED_SYSCTLS

    return {
        "tcplab_version": __version__,
        "kernel": platform.release(),
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
        **merge.class_meta(after),
    }


def _write(
    out: Path,
    after: ClassRun,
    outcomes: list[Outcome],
    meta: dict[str, Any],
    entry: dict[str, Any],
    excel: bool = False,
) -> list[Path]:
    """The class files from the whole class; the folders of the students graded now; the record
    of the class; a line of history. The record is written first: whatever stops the writing
    half-way, the next run writes every file again from it."""
    from tcplab.grade import courses, merge, outputs

    for o in outcomes:
        if o.report is not None and not o.ladder_html:  # (each is rendered as it comes)
            o.ladder_text, o.ladder_html = render_ladder(o.report)
    merge.save(out, after)
    merge.append_history(out, entry)
    extra = {
        "history": merge.history_summary(merge.read_history(out)),
        "similar": [c for lab in after.labs for c in after.similar.get(lab, [])],
    }
    graded = {o.student for o in outcomes}
    everyone = list(after.outcomes.values())
    paths = outputs.write_all(out, everyone, meta, students=graded, extra=extra)
    return paths + courses.write_course_files(out, everyone, meta, excel)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM while the files are written waits until they are (then interrupts)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    old = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt


def render_ladder(report: Any) -> tuple[str, str]:
    """The ladder as plain text (80 columns, as a terminal shows it) and as an HTML fragment
    (inline styles)."""
    con = Console(record=True, width=80, file=io.StringIO(), highlight=False, soft_wrap=True)
    ladder(report, show_checks=False, out=con)
    text = con.export_text(clear=False)
    html = con.export_html(inline_styles=True, code_format=LADDER_HTML)
    return text, html


def summary(
    outcomes: list[Outcome],
    labs: list[LabDef],
    meta: dict[str, Any],
    out: Path,
    files: int,
    graded: int | None = None,
) -> None:
    """The terminal summary: a table of students by labs, then counts and where the files are.
    `outcomes` is the whole class; `graded`, how many of them this run graded (default: all)."""
    table = Table(title="tcplab grade", title_justify="left", box=None, pad_edge=False)
    table.add_column(_("student"), max_width=28, no_wrap=True, overflow="ellipsis")
    for lab in labs:
        table.add_column(lab.name, justify="right")
    by_student: dict[str, dict[str, Outcome]] = {}
    for o in outcomes:
        by_student.setdefault(o.student, {})[o.lab] = o
    shown = {k: next(iter(v.values())).display for k, v in by_student.items()}
    twice = {n for n, count in Counter(shown.values()).items() if count > 1}
    shown = {k: f"{n} ({k})" if n in twice else n for k, n in shown.items()}
    for student in sorted(by_student, key=lambda k: (shown[k].casefold(), k)):
        cells = [_cell(by_student[student].get(lab.name)) for lab in labs]
        name = text.line(shown[student])
        if i18n.language() != i18n.ENGLISH:  # rich would cut it with "…" (two columns in CJK)
            name = clip(name, 28)
        table.add_row(escape(name), *cells)
    console().print()
    console().print(table)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.verdict.value] = counts.get(o.verdict.value, 0) + 1
    full = sum(o.full_marks for o in outcomes)
    now = len(outcomes) if graded is None else graded
    console().print()
    took = f"{meta['seconds']:.1f}"
    words = (
        _("{graded} graded in {seconds} s: {full} full marks; {counts}")
        if now == len(outcomes)
        else _("{graded} graded in {seconds} s, {total} in the class: {full} full marks; {counts}")
    )
    tally = _(", ").join(
        _("{n} {verdict}").format(n=n, verdict=_(v)) for v, n in sorted(counts.items())
    )
    _say(
        words.format(graded=now, seconds=took, total=len(outcomes), full=full, counts=tally),
        hang="  ",
    )
    _not_in_roster(outcomes)
    flagged = [
        (o, [f for f in o.flags if f != NOT_IN_ROSTER])
        for o in sorted(outcomes, key=lambda o: (o.display.casefold(), o.student, o.lab))
    ]
    flagged = [(o, flags) for o, flags in flagged if flags]
    if flagged:
        _say(
            (_("{n} flagged").format(n=len(flagged)), "bold red"),
            _(" (the score stands; look at these):"),
        )
        for o, flags in flagged:
            why = text.line(_("; ").join(flags), 200)
            _say(f"{clip(text.line(o.display), 28)}/{o.lab}: {why}", indent="  ", hang="    ")
    if counts.get(Verdict.ENVIRONMENT_ERROR.value):
        _say(
            (
                _(
                    "environment errors are not the students': they have no score; "
                    "grade those again"
                ),
                "magenta",
            )
        )
    not_run = sum(counts.get(v.value, 0) for v in NOT_RUN)
    if not_run:
        _say(
            (_("{n} not run").format(n=not_run), "yellow"),
            _(" (missing, misnamed or refused: a row each in every file, and exit status 1)"),
            hang="  ",
        )
    _say(
        _(
            "{files} files in {out}: gradebook.csv, junit.xml, grade.json, "
            "canvas.csv, moodle.csv, STUDENT/…"
        ).format(files=files, out=text.line(str(out))),
        hang="  ",
    )


def _not_in_roster(outcomes: list[Outcome]) -> None:
    """One line for the folders the roster does not name: graded, and listed for the instructor."""
    names = sorted({o.display for o in outcomes if NOT_IN_ROSTER in o.flags}, key=str.casefold)
    if names:
        shown = _("; ").join(clip(text.line(n), 28) for n in names[:20])
        more = _(", and {n} more").format(n=len(names) - 20) if len(names) > 20 else ""
        _say(
            (_("{n} not in the roster").format(n=len(names)), "yellow"),
            _(" (graded): {names}{more}").format(names=shown, more=more),
            hang="  ",
        )


def _closing(
    after: ClassRun,
    outcomes: list[Outcome],
    base: ClassRun | None,
    subs: list[Submission],
    interrupted: bool,
) -> None:
    """What this run did to the class in --out: merged, interrupted, similar submissions."""
    if base is not None:
        kept = len(after.outcomes) - len(outcomes)
        _say(
            _(
                "merged into the class in --out: {graded} row(s) graded now, {kept} kept "
                "as they were; every run is in history.jsonl"
            ).format(graded=len(outcomes), kept=kept),
            hang="  ",
        )
    if after.interrupted:
        _say(
            (_("interrupted"), "bold yellow"),
            _(
                ": {graded} of {total} graded and written; "
                "{pending} not graded (no row; grade.json meta.interrupted is true). "
                "The same command grades only what is missing"
            ).format(graded=len(outcomes), total=len(subs), pending=len(after.pending)),
            hang="  ",
        )
    elif interrupted:
        _say(
            (_("interrupted"), "bold yellow"),
            _(
                " while comparing submissions: every grade is written; "
                "the similarity hints are those of the last run that finished"
            ),
            hang="  ",
        )
    clusters = [c for lab in after.labs for c in after.similar.get(lab, [])]
    if clusters:
        _say(
            (_("{n} group(s) of similar submissions").format(n=len(clusters)), "bold"),
            _(" (a hint, not a penalty; grade.json lists them):"),
        )
        shown = {o.student: o.display for o in after.outcomes.values()}
        for c in clusters:
            words = Cluster.from_json(c).words(lambda s: clip(text.line(shown.get(s, s)), 28))
            _say(text.line(words, 400), indent="  ", hang="    ")


def clip(words: str, width: int) -> str:
    """`words` cut to `width` columns as tcplab.text.clip does, but with "..." outside English:
    "…" is ambiguous, two columns wide in a CJK terminal, and the line would overflow."""
    if i18n.language() == i18n.ENGLISH or text.columns(words) <= width:
        return text.clip(words, width)
    return text.clip(words, max(width - 2, 1))[:-1] + "..."


def pad(words: str, width: int) -> str:
    """`words` as one clean line, clipped and padded to exactly `width` columns."""
    cut = clip(text.line(words), width)
    return cut + " " * (width - text.columns(cut))


def _say(*parts: str | tuple[str, str], indent: str = "", hang: str | None = None) -> None:
    """One paragraph of the summary, wrapped to the terminal; a part is text, or (text, style).
    Names and messages are the students': shown as given (cleaned), never read as markup."""
    pieces = [(p, "") if isinstance(p, str) else p for p in parts]
    para(console(), pieces, indent=indent, hang=hang)


def _cell(o: Outcome | None) -> str:
    if o is None:
        return "[dim]" + escape(_("not run")) + "[/]"
    color = COLORS[o.verdict]
    if o.verdict is Verdict.SCORED:
        mark = "" if o.full_marks else f" [{color}]{_(NOT_FULL)}[/]"
        return f"{o.score}/{o.max_score}{mark}"
    score = _(NO_SCORE) if o.score is None else f"{o.score}/{o.max_score}"
    return f"{score} [{color}]{escape(shown_verdict(o.verdict))}[/]"
