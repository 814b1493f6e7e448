"""tcplab lab list|show|start|check, and tcplab shell."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import typer

from tcplab import child_env
from tcplab.cli.tidy import tidy
from tcplab.errors import EXIT_KERNEL, EnvironmentProblem, UsageError
from tcplab.exercise.catalog import LabDef, all_labs, course_labs, get
from tcplab.text import printable
from tcplab.userfile import Refused, kind, read_bytes


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
        for line in wrap(printable(lab.title), columns(), f"{lab.name:<{width}}  "):
            typer.echo(line)


def show(name: str, labs_dir: str | None = None) -> None:
    lab = _get(name, labs_dir)
    try:
        text = printable(read_bytes(str(lab.handout), 1 << 20).decode("utf-8", "replace"))
    except Refused as exc:
        raise EnvironmentProblem(
            f"lab {lab.name} has no readable handout: {exc}", "the lab folder needs a README.md"
        ) from None
    from tcplab.cli.wrap import handout

    handout(text)


def start(name: str, force: bool, labs_dir: str | None = None) -> None:
    lab = _get(name, labs_dir)
    try:
        here = Path.cwd()
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot find the current folder: {exc.strerror}", "cd to a folder that exists"
        ) from None
    target = here / f"{lab.name}.py"
    _copy_starter(lab.starter, target, force)
    typer.echo(f"lab {lab.name}: {lab.title}")
    typer.echo(f"your file: {target} (from the starter)")
    typer.echo(f"handout:   tcplab lab show {lab.name}")
    typer.echo("try ideas: tcplab setup && tcplab shell")
    typer.echo(f"check:     tcplab lab check {lab.name} {target.name}")


def _copy_starter(starter: Path, target: Path, force: bool) -> None:
    """Write the starter as `target`, whole or not at all: through a new file in the same folder,
    renamed over `target`, so a symlink there is replaced, never followed."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise EnvironmentProblem(f"cannot look at {target}: {exc.strerror}", _CD_HINT) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{target} is a folder", "rename or remove it, or start in another folder")
    if st is not None and not force:
        raise UsageError(f"{target} already exists", "edit it, or use --force to start afresh")
    tmp = target.with_name(f".{target.name}.tcplab-{os.getpid()}")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot write {target.name} in {target.parent}: {exc.strerror}", _CD_HINT
        ) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(starter.read_bytes())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EnvironmentProblem(f"cannot write {target}: {exc.strerror}", _CD_HINT) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_CD_HINT = "cd to a folder you can write to (e.g. your home folder) and run it again"


def check(
    name: str,
    file: str | None,
    reference: bool,
    json_out: bool,
    labs_dir: str | None = None,
    hint_level: int | None = None,
    record: str | None = None,
) -> None:
    lab = _get(name, labs_dir)
    if reference and file:
        raise UsageError("give a FILE or --reference, not both", "tcplab lab check NAME FILE")
    if reference:
        path = lab.reference()
    else:
        path = Path(file or f"{lab.name}.py")
        _check_solution_file(path, lab.name)
    record_to = _output_file(record, "--record") if record else None
    from tcplab.exercise.attempts import Attempts
    from tcplab.exercise.checker import Options, check_solution
    from tcplab.netns.topology import require_root

    require_root("lab check")
    tidy()
    attempts = Attempts()
    level = hint_level or (lambda title: attempts.level(lab.name, title))
    result = check_solution(lab, path.resolve(), Options(hint_level=level, record=record_to))
    if not reference and hint_level is None:
        attempts.update(lab.name, result.results)
    if json_out:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        from tcplab.cli import render

        render.lab_result(result)
    if result.score != result.max_score:
        raise typer.Exit(EXIT_KERNEL)


def _output_file(name: str, option: str) -> Path:
    """A file an option writes: its folder must exist, and it must not be a folder itself."""
    path = Path(name)
    if path.is_dir():
        raise UsageError(f"{option} {name} is a folder", f"give {option} a file name")
    if not path.parent.is_dir():
        raise UsageError(
            f"{option} {name}: no folder {path.parent}",
            f"make the folder, or give {option} another path",
        )
    return path.resolve()


def _check_solution_file(path: Path, lab: str) -> None:
    """A solution is a regular file, named itself (not through a symlink), before any lab is made."""
    try:
        st = path.lstat()
    except OSError:
        raise UsageError(
            f"no solution file {path}",
            f"start one with 'tcplab lab start {lab}', or name the file",
        ) from None
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(
            f"{path} is a symbolic link", f"name the file itself: tcplab lab check {lab} FILE"
        )
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(
            f"{path} is {kind(st.st_mode)}, not a file", "name your solution's .py file"
        )


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
            f"no working testbed with crafting host {crafting}",
            f"give --crafting with one of: {others}" if others else "run 'sudo tcplab setup' first",
        )
    ctx = lab_context(rec, "shell", rec.spec.port)
    startup = Path(__file__).resolve().parents[1] / "shell_startup.py"
    env = child_env(**ctx.to_env(), PYTHONSTARTUP=str(startup))
    with inside(rec.spec.crafting):
        os.execvpe(sys.executable, [sys.executable, "-q", "-i"], env)
