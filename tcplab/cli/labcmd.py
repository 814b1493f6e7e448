"""tcplab lab list|show|start|check, and tcplab shell."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tcplab import child_env
from tcplab.cli.tidy import tidy
from tcplab.errors import EXIT_KERNEL, EnvironmentProblem, UsageError
from tcplab.exercise.catalog import LabDef, all_labs, course_labs, get
from tcplab.exercise.output import JSON_LINES
from tcplab.i18n import ENGLISH, N_, _, language
from tcplab.text import printable
from tcplab.userfile import Refused, read_bytes

if TYPE_CHECKING:
    from tcplab.exercise.checker import LabResult
    from tcplab.exercise.output import ProgramOutput
    from tcplab.grade.outcome import Verdict
    from tcplab.sandbox.warm import WarmStart


def _root(labs_dir: str | None) -> Path | None:
    return course_labs(labs_dir) if labs_dir is not None else None


def _get(name: str, labs_dir: str | None) -> LabDef:
    return get(name, _root(labs_dir))


def list_labs(json_out: bool, labs_dir: str | None = None) -> None:
    labs = all_labs(_root(labs_dir))
    if json_out:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": lab.name,
                        "title": lab.title,
                        "summary": lab.summary,
                        "order": lab.order,
                    }
                    for lab in labs
                ],
                indent=2,
            )
        )
        return
    from tcplab.cli.wrap import width as columns
    from tcplab.text import wrap

    width = max((len(lab.name) for lab in labs), default=0)
    for lab in labs:
        for line in wrap(printable(_(lab.title)), columns(), f"{lab.name:<{width}}  "):
            typer.echo(line)


def show(name: str, labs_dir: str | None = None) -> None:
    lab = _get(name, labs_dir)
    try:
        text = printable(read_bytes(str(handout_of(lab)), 1 << 20).decode("utf-8", "replace"))
    except Refused as exc:
        raise EnvironmentProblem(
            _("lab {name} has no readable handout: {exc}").format(name=lab.name, exc=exc),
            _("the lab folder needs a README.md"),
        ) from None
    from tcplab.cli.wrap import handout

    handout(text)


def handout_of(lab: LabDef) -> Path:
    """The lab's handout in the language spoken: README.LANG.md beside README.md when the lab
    has one, else README.md."""
    lang = language()
    if lang != ENGLISH:
        translated = lab.handout.with_name(f"{lab.handout.stem}.{lang}{lab.handout.suffix}")
        if translated.is_file():
            return translated
    return lab.handout


def start(name: str, force: bool, labs_dir: str | None = None) -> None:
    lab = _get(name, labs_dir)
    try:
        here = Path.cwd()
    except OSError as exc:
        raise EnvironmentProblem(
            _("cannot find the current folder: {strerror}").format(strerror=exc.strerror),
            _("cd to a folder that exists"),
        ) from None
    target = here / f"{lab.name}.py"
    _copy_starter(lab.starter, target, force)
    typer.echo(_("lab {name}: {title}").format(name=lab.name, title=_(lab.title)))
    typer.echo(_("your file: {target} (from the starter)").format(target=target))
    typer.echo(_("handout:   tcplab lab show {name}").format(name=lab.name))
    typer.echo(_("try ideas: tcplab setup && tcplab shell"))
    typer.echo(
        _("check:     tcplab lab check {name} {file}").format(name=lab.name, file=target.name)
    )


def _copy_starter(starter: Path, target: Path, force: bool) -> None:
    """Write the starter as `target`, whole or not at all: through a new file in the same folder,
    renamed over `target`, so a symlink there is replaced, never followed."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise EnvironmentProblem(
            _("cannot look at {target}: {strerror}").format(target=target, strerror=exc.strerror),
            _(_CD_HINT),
        ) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(
            _("{target} is a folder").format(target=target),
            _("rename or remove it, or start in another folder"),
        )
    if st is not None and not force:
        raise UsageError(
            _("{target} already exists").format(target=target),
            _("edit it, or use --force to start afresh"),
        )
    tmp = target.with_name(f".{target.name}.tcplab-{os.getpid()}")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
    except OSError as exc:
        raise EnvironmentProblem(
            _("cannot write {name} in {parent}: {strerror}").format(
                name=target.name, parent=target.parent, strerror=exc.strerror
            ),
            _(_CD_HINT),
        ) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(starter.read_bytes())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EnvironmentProblem(
            _("cannot write {target}: {strerror}").format(target=target, strerror=exc.strerror),
            _(_CD_HINT),
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_FILE_HINT = N_(
    "tcplab grade refuses it too: give a regular UTF-8 .py file, named itself (not a link), "
    "of at most 256 KiB"
)
_CD_HINT = N_("cd to a folder you can write to (e.g. your home folder) and run it again")


def check(
    name: str,
    file: str | None,
    reference: bool,
    json_out: bool,
    labs_dir: str | None = None,
    hint_level: int | None = None,
    record: str | None = None,
    pcap: str | None = None,
    html: str | None = None,
    absolute: bool = False,
    svg: str | None = None,
) -> None:
    lab = _get(name, labs_dir)
    if reference and file:
        raise UsageError(_("give a FILE or --reference, not both"), _("tcplab lab check NAME FILE"))
    if reference:
        path = lab.reference()
    else:
        path = Path(file or f"{lab.name}.py")
        _check_solution_file(path, lab.name)
    outputs = _output_paths(path, pcap=pcap, html=html, svg=svg)
    record_to = _output_file(record, "--record") if record else None
    from tcplab.netns.topology import require_root

    require_root("lab check")
    from tcplab.sandbox import warm as warm_start

    with warm_start.take() as warm:  # loads scapy for the program while the testbed is built
        result = _run_check(lab, path, warm, reference, hint_level, record_to, outputs)
    if "html" in outputs:
        _write_html(result, outputs["html"], outputs.get("pcap"))
    if "svg" in outputs:
        from tcplab.cli.picture import write_svg

        write_svg(str(outputs["svg"]), result.report, relative=not absolute)
    if json_out:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        from tcplab.cli import render

        render.lab_result(result, relative=not absolute)
    if result.score != result.max_score:
        raise typer.Exit(EXIT_KERNEL)


def _run_check(
    lab: LabDef,
    path: Path,
    warm: WarmStart,
    reference: bool,
    hint_level: int | None,
    record_to: Path | None,
    outputs: dict[str, Path],
) -> LabResult:
    from tcplab.exercise.attempts import Attempts
    from tcplab.exercise.checker import Options, check_solution, run_warm

    tidy()
    attempts = Attempts()
    level = hint_level or (lambda title: attempts.level(lab.name, title))
    opts = Options(
        launch=run_warm(warm), hint_level=level, record=record_to, pcap=outputs.get("pcap")
    )
    result = check_solution(lab, path.resolve(), opts)
    if not reference and hint_level is None:
        attempts.update(lab.name, result.results)
    return result


def _output_paths(solution: Path, **paths: str | None) -> dict[str, Path]:
    """Each given output (--pcap, --html) as a file that can be written, and is not the solution
    nor another output: UsageError before any lab is built."""
    from tcplab.userfile import check_writable

    found: dict[str, Path] = {}
    for option, value in paths.items():
        if value is None:
            continue
        try:
            check_writable(value)
        except Refused as exc:
            raise UsageError(
                _("cannot write --{option} {exc}").format(option=option, exc=exc),
                _("name a file in a folder you can write to, e.g. {stem}.{option}").format(
                    stem=solution.stem, option=option
                ),
            ) from None
        out = Path(value)
        for other, taken in [("solution", solution), *found.items()]:
            if _same_file(out, taken):
                if other == "solution":
                    text = _("--{option} {value} is your solution")
                else:
                    text = _("--{option} {value} is also --{other}")
                raise UsageError(
                    text.format(option=option, value=value, other=other),
                    _("name another file, e.g. {stem}.{option}").format(
                        stem=solution.stem, option=option
                    ),
                )
        found[option] = out
    return found


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:  # one is not made yet
        return a.resolve() == b.resolve()


def _write_html(result: Any, path: Path, pcap: Path | None) -> None:
    """The report `tcplab grade` writes for one submission (report.html), for this check."""
    import getpass
    import platform
    from datetime import datetime, timezone

    from tcplab import __version__
    from tcplab.cli.gradecmd import render_ladder
    from tcplab.grade import outputs
    from tcplab.grade.outcome import Outcome
    from tcplab.text import block
    from tcplab.userfile import write_output

    out = result.program_output(JSON_LINES)
    verdict, message = _verdict(result, out)
    env = {"kernel": platform.release(), "tcplab": __version__, "python": platform.python_version()}
    outcome = Outcome(
        student=os.environ.get("SUDO_USER") or getpass.getuser(),
        lab=result.lab.name, lab_title=result.lab.title, verdict=verdict, message=message,
        max_score=result.max_score, score=result.score, checks=result.results,
        stdout=block(out.stdout.text), stderr=block(out.stderr.text), exit_code=result.exit_code,
        environment={**env, "sysctl": result.sysctls}, ladder=result.report.to_json(),
        report=result.report, pcap=str(pcap.resolve()) if pcap else None,
        ports=result.ports or [], foreign_segments=result.foreign_segments,
        port_rule=result.dropped.to_json() if result.dropped else None,
    )  # fmt: skip
    outcome.ladder_text, outcome.ladder_html = render_ladder(result.report)
    meta = {
        "tcplab_version": __version__, "kernel": env["kernel"], "seed": "none (lab check)",
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "jobs": 1,
        "limits": {"time_limit_s": result.lab.time_limit}, "sysctl": result.sysctls,
    }  # fmt: skip
    try:
        write_output(str(path), outputs.report_html([outcome], meta).encode("utf-8", "replace"))
    except Refused as exc:
        raise EnvironmentProblem(
            _("cannot write --html {exc}").format(exc=exc), _("name another file")
        ) from None


def _verdict(result: Any, out: ProgramOutput) -> tuple[Verdict, str]:
    from tcplab.grade.outcome import Verdict

    if result.timed_out:
        text = _("stopped after {seconds:g} s").format(seconds=result.lab.time_limit)
        return Verdict.TIME_LIMIT, text
    if not result.exit_code:
        return Verdict.SCORED, _("your program ended with status 0")
    raised = out.raised
    if raised is None:
        text = _("your program exited with status {status}")
    elif raised.file:
        text = _("your program exited with status {status}: {exception} at {file} line {line}")
    else:
        text = _("your program exited with status {status}: {exception}")
    exception, file, line = (raised.exception, raised.file, raised.line) if raised else ("", "", 0)
    status = result.exit_code
    return Verdict.RUNTIME_ERROR, text.format(
        status=status, exception=exception, file=file, line=line
    )


def _output_file(name: str, option: str) -> Path:
    """A file an option writes: its folder must exist, and it must not be a folder itself."""
    path = Path(name)
    if path.is_dir():
        raise UsageError(
            _("{option} {name} is a folder").format(option=option, name=name),
            _("give {option} a file name").format(option=option),
        )
    if not path.parent.is_dir():
        raise UsageError(
            _("{option} {name}: no folder {parent}").format(
                option=option, name=name, parent=path.parent
            ),
            _("make the folder, or give {option} another path").format(option=option),
        )
    return path.resolve()


def _check_solution_file(path: Path, lab: str) -> None:
    """Before any lab is made: the file is one `tcplab grade` would run, by the same rules and in
    the same words (tcplab/exercise/source.py): a regular file named itself (not a symlink), at
    most 256 KiB, UTF-8 or with a coding line naming its codec."""
    from tcplab.exercise.source import Unusable, problem, read_solution

    try:
        path.lstat()
    except OSError:
        raise UsageError(
            _("no solution file {path}").format(path=path),
            _("start one with 'tcplab lab start {lab}', or name the file").format(lab=lab),
        ) from None
    try:  # the user's own folder may be reached through a symlink; the file itself may not
        why = problem(read_solution(path.parent.resolve() / path.name), path.name)
    except Unusable as exc:
        why = str(exc)
    if why is not None:
        raise UsageError(why, _(_FILE_HINT))


def shell(crafting: str) -> None:
    """Replace this process with an interactive Python inside the crafting namespace."""
    from tcplab.netns.enter import inside
    from tcplab.netns.record import all_records, find_record, lab_context
    from tcplab.netns.topology import healthy, require_root

    require_root("shell")
    tidy()
    rec = find_record(crafting)
    if rec is None or not healthy(rec) or rec.app is None:
        others = ", ".join(r.spec.crafting for r in all_records() if r.spec.crafting != crafting)
        raise EnvironmentProblem(
            _("no working testbed with crafting host {crafting}").format(crafting=crafting),
            _("give --crafting with one of: {others}").format(others=others)
            if others
            else _("run 'sudo tcplab setup' first"),
        )
    ctx = lab_context(rec, "shell", rec.spec.port)
    startup = Path(__file__).resolve().parents[1] / "shell_startup.py"
    env = child_env(**ctx.to_env(), PYTHONSTARTUP=str(startup))
    with inside(rec.spec.crafting):
        os.execvpe(sys.executable, [sys.executable, "-q", "-i"], env)
