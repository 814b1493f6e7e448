"""The labs: folders in `labs/` (shipped inside the package as tcplab.labs), each with lab.toml,
README.md (the handout), starter.py, solution.py and checks.py."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcplab.errors import DefinitionError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


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
    backlog: int = 128


@dataclass(frozen=True)
class LabDef:
    name: str
    dir: Path
    title: str
    summary: str
    order: int
    port: int = 7788
    listen: bool = True  # the application accepts on `port` from the start
    listeners: tuple[Listener, ...] = ()  # more listeners, made before the solution runs
    sysctl: dict[str, str] = field(default_factory=dict)
    time_limit: float = 30.0

    @property
    def handout(self) -> Path:
        return self.dir / "README.md"

    @property
    def starter(self) -> Path:
        return self.dir / "starter.py"

    @property
    def solution(self) -> Path:
        return self.dir / "solution.py"

    def checklist(self) -> Any:
        """The lab's checks (checks.py's `checks`, a tcplab.exercise.kit.Checklist), loaded once
        per process: grading asks for them for every submission."""
        return _checklist(self.dir / "checks.py", self.name)


@functools.cache
def _checklist(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"tcplab_lab_checks_{name}", path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"{path}: cannot load the lab's checks", "reinstall tcplab")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.checks


def _load(folder: Path) -> LabDef:
    meta_path = folder / "lab.toml"
    try:
        meta = tomllib.loads(meta_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DefinitionError(f"{meta_path}: {exc}", "fix the lab's lab.toml") from exc
    lab = meta.get("lab", {})
    return LabDef(
        name=folder.name,
        dir=folder,
        title=lab["title"],
        summary=lab.get("summary", ""),
        order=int(lab.get("order", 99)),
        port=int(lab.get("port", 7788)),
        listen=bool(lab.get("listen", True)),
        listeners=tuple(
            Listener(int(x["port"]), int(x.get("backlog", 128))) for x in meta.get("listener", [])
        ),
        sysctl={k: str(v) for k, v in meta.get("sysctl", {}).items()},
        time_limit=float(lab.get("time_limit", 30)),
    )


def all_labs() -> list[LabDef]:
    root = labs_dir()
    folders = (
        [p for p in sorted(root.iterdir()) if (p / "lab.toml").is_file()] if root.is_dir() else []
    )
    return sorted((_load(p) for p in folders), key=lambda lab: (lab.order, lab.name))


def get(name: str) -> LabDef:
    for lab in all_labs():
        if lab.name == name:
            return lab
    names = ", ".join(lab.name for lab in all_labs()) or "none"
    raise UsageError(f"no lab named {name!r}", f"labs: {names} (see 'tcplab lab list')")
