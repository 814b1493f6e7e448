"""The labs: folders in `labs/` (shipped inside the package as tcplab.labs), each with lab.toml,
README.md (the handout), starter.py, solution.py and checks.py.

A course may keep its own labs, of the same shape, in a folder of its own (`--labs DIR`): with
private reference solutions and hidden checks, outside the package that students can read. Such a
folder replaces the shipped labs for that command. An install may leave the reference solutions out
(`install.sh --no-references`); then `LabDef.has_reference` is False."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcplab import defaults
from tcplab.errors import DefinitionError, EnvironmentProblem, UsageError
from tcplab.i18n import _
from tcplab.text import line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


LAB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")  # also the solution's file name, LAB.py


def labs_dir() -> Path:
    """Where the labs are: inside the installed package, or `labs/` of a source checkout."""
    try:
        pkg = importlib.import_module("tcplab.labs")
        return Path(next(iter(pkg.__path__)))
    except ImportError:
        return Path(__file__).resolve().parents[2] / "labs"


@dataclass(frozen=True)
class Listener:
    port: int
    backlog: int = defaults.BACKLOG


@dataclass(frozen=True)
class LabDef:
    name: str
    dir: Path
    title: str
    summary: str
    order: int
    port: int = defaults.APP_PORT
    listen: bool = True  # the application accepts on `port` from the start
    listeners: tuple[Listener, ...] = ()  # more listeners, made before the solution runs
    sysctl: dict[str, str] = field(default_factory=dict)
    time_limit: float = defaults.TIME_LIMIT

    @property
    def handout(self) -> Path:
        return self.dir / "README.md"

    @property
    def starter(self) -> Path:
        return self.dir / "starter.py"

    @property
    def solution(self) -> Path:
        return self.dir / "solution.py"

    @property
    def has_reference(self) -> bool:
        return self.solution.is_file()

    def reference(self) -> Path:
        """The reference solution; EnvironmentProblem when this install or course has none."""
        if not self.has_reference:
            raise EnvironmentProblem(
                _("lab {name} has no reference solution here ({path} is missing)").format(
                    name=self.name, path=self.solution
                ),
                _(
                    "this install leaves references out (install.sh --no-references); ask the course"
                ),
            )
        return self.solution

    def checklist(self) -> Any:
        """The lab's checks (checks.py's `checks`, a tcplab.exercise.kit.Checklist), loaded once
        per process: grading asks for them for every submission."""
        return _checklist(self.dir / "checks.py", self.name)


@functools.cache
def _checklist(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"tcplab_lab_checks_{name}", path)
    if spec is None or spec.loader is None:
        raise DefinitionError(
            _("{path}: cannot load the lab's checks").format(path=path), _("reinstall tcplab")
        )
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module.checks
    except Exception as exc:  # a course's own checks.py may be broken: say which and how
        raise DefinitionError(
            _("{path}: the lab's checks do not load ({error})").format(
                path=path, error=f"{type(exc).__name__}: {exc}"
            ),
            _("checks.py must define `checks`, a tcplab.exercise.kit.Checklist"),
        ) from exc


def _load(folder: Path) -> LabDef:
    meta_path = folder / "lab.toml"
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
        lab = meta.get("lab", {})
        return LabDef(
            name=folder.name,
            dir=folder,
            title=line(lab["title"], 120),
            summary=line(lab.get("summary", ""), 400),
            order=int(_number(lab, "order", 99, 0, 10_000)),
            port=int(_number(lab, "port", defaults.APP_PORT, 1, 65535)),
            listen=bool(lab.get("listen", True)),
            listeners=tuple(
                Listener(
                    int(_number(x, "port", 0, 1, 65535)),
                    int(_number(x, "backlog", defaults.BACKLOG, 0, 4096)),
                )
                for x in meta.get("listener", [])
            ),
            sysctl={k: str(v) for k, v in meta.get("sysctl", {}).items()},
            time_limit=_number(lab, "time_limit", defaults.TIME_LIMIT, 1, 3600),
        )
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise DefinitionError(f"{meta_path}: {exc}", _("fix the lab's lab.toml")) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DefinitionError(
            _("{path}: a missing or malformed field ({error})").format(path=meta_path, error=exc),
            _("[lab] needs title; order, port, time_limit are numbers"),
        ) from exc


def _number(table: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    """A whole number from lab.toml within [lo, hi] (nan, inf, 1e400 and true are refused)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ValueError(
            _("{key} = {value}: give a number from {lo} to {hi}").format(
                key=key, value=repr(value), lo=f"{lo:g}", hi=f"{hi:g}"
            )
        )
    return float(value)


def course_labs(path: str) -> Path:
    """A course's own labs folder (`--labs DIR`), checked: a folder holding at least one lab."""
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(
            _("--labs {path}: no such folder").format(path=path),
            _("name a folder holding NAME/lab.toml"),
        )
    if not lab_folders(folder):
        raise UsageError(
            _("--labs {path}: holds no lab").format(path=path),
            _(
                "a lab is a folder NAME/ with lab.toml, README.md, starter.py, checks.py "
                "and, for the instructor, solution.py (the reference)"
            ),
        )
    return folder.resolve()


def lab_folders(root: Path) -> list[Path]:
    """The lab folders in `root`: NAME/ with lab.toml, NAME a valid lab name."""
    if not root.is_dir():
        return []
    return [
        p
        for p in sorted(root.iterdir())
        if LAB_NAME.fullmatch(p.name) and p.is_dir() and (p / "lab.toml").is_file()
    ]


def all_labs(root: Path | None = None) -> list[LabDef]:
    """The labs in `root` (default: the shipped ones), in their order."""
    folders = lab_folders(root or labs_dir())
    return sorted((_load(p) for p in folders), key=lambda lab: (lab.order, lab.name))


def get(name: str, root: Path | None = None) -> LabDef:
    """The lab named `name` in `root` (default: the shipped labs)."""
    labs = all_labs(root)
    for lab in labs:
        if lab.name == name:
            return lab
    names = ", ".join(lab.name for lab in labs) or _("none")
    raise UsageError(
        _("no lab named {name}").format(name=repr(name)),
        _("labs: {names} (see 'tcplab lab list')").format(names=names),
    )
