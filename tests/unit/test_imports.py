"""Importing tcplab does nothing but define things, and the pure parts load no adapters.

Each check runs in a fresh interpreter (`python -c`), so what an earlier import loaded cannot hide
what this one loads. The lab kit, the grade outputs, the engine's pure modules and every module of the
model load no scapy and no pyroute2 (the model not even `socket`), read through sys.modules. And no
module of tcplab, as it loads, reads the environment, loads a C library, changes a logger, makes a
console, opens a file, starts a thread or a process, or takes over a signal: each of those calls is
watched while every module is imported, and any made from tcplab's own code is named.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import tcplab.model
from tests.conftest import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# the pure modules are the ones the import-linter contract "pure" names (pyproject.toml)
_CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]
PURE = next(c["source_modules"] for c in _CONTRACTS if c["id"] == "pure")
MODEL = ["tcplab.model"] + [
    f"tcplab.model.{m.name}" for m in pkgutil.iter_modules(tcplab.model.__path__)
]
# Entry points, whose loading is their work: `python -m tcplab`, the command's launcher (it takes
# SIGINT and SIGTERM before anything else loads, see its docstring), the student's shell prompt.
ENTRY_POINTS = {"tcplab.__main__", "tcplab.launch", "tcplab.shell_startup"}


def loaded_by(module: str, then: str = "") -> list[str]:
    """The modules a fresh interpreter has loaded after `import module` (and the code `then`)."""
    code = f"import json, sys, {module}\n{then}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def adapters(loaded: list[str], also: tuple[str, ...] = ()) -> list[str]:
    roots = ("scapy", "pyroute2", *also)
    return [m for m in loaded if m.split(".")[0] in roots]


def test_the_lists_name_real_modules() -> None:
    assert len(MODEL) >= 7 and "tcplab.model.endpoint" in MODEL


@pytest.mark.parametrize("module", PURE + MODEL)
def test_a_pure_module_loads_no_scapy_and_no_pyroute2(module: str) -> None:
    loaded = loaded_by(module)
    assert module in loaded
    also = ("socket",) if module.startswith("tcplab.model") else ()
    assert adapters(loaded, also) == []


def test_the_wire_loads_scapy_at_its_first_packet() -> None:
    """The counter-check: the same probe sees scapy once a scapy packet is made (and not before);
    a frame to send is packed without scapy."""
    module = "tcplab.wire.packet"
    assert adapters(loaded_by(module)) == []
    made = (
        "from tcplab.model.flags import Flags\n"
        "from tcplab.model.segment import Segment\n"
        "ends = tcplab.wire.packet.Endpoints('10.9.0.1', '10.9.0.2', '02:00:00:00:00:01', "
        "'02:00:00:00:00:02')\n"
        "tcplab.wire.packet.{}(Segment(1, 2, Flags.SYN), ends)"
    )
    assert adapters(loaded_by(module, made.format("to_frame"))) == []
    assert "scapy.layers.inet" in adapters(loaded_by(module, made.format("to_packet")))


WATCH = r"""
import _signal, builtins, ctypes, io, json, logging, os, pkgutil, signal, subprocess, sys, threading
import rich.console

SKIP = {"__main__", "os", "collections.abc", "pathlib", "subprocess", "logging", "signal"}
calls = []


def culprit():
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in SKIP:
        frame = frame.f_back
    name = "" if frame is None else frame.f_globals.get("__name__", "")
    return name if name == "tcplab" or name.startswith("tcplab.") else None


def watch(owner, attr, what):
    real = getattr(owner, attr)

    def spy(*args, **kwargs):
        who = culprit()
        if who is not None:
            calls.append(f"{who}: {what}")
        return real(*args, **kwargs)

    setattr(owner, attr, spy)


watch(os._Environ, "__getitem__", "reads the environment")
watch(os._Environ, "__contains__", "reads the environment")
watch(os, "getenv", "reads the environment")
watch(ctypes.CDLL, "__init__", "loads a C library")
for attr in ("setLevel", "addHandler", "addFilter"):
    watch(logging.Logger, attr, f"changes a logger ({attr})")
watch(logging, "basicConfig", "configures logging")
watch(logging, "disable", "configures logging")
watch(rich.console.Console, "__init__", "makes a console")
watch(builtins, "open", "opens a file")
watch(io, "open", "opens a file")
watch(os, "open", "opens a file")
watch(threading.Thread, "start", "starts a thread")
watch(subprocess.Popen, "__init__", "starts a process")
watch(signal, "signal", "takes over a signal")
watch(_signal, "signal", "takes over a signal")
watch(_signal, "pthread_sigmask", "changes the signal mask")
watch(os, "fork", "forks")

import tcplab

modules = []
for info in pkgutil.walk_packages(tcplab.__path__, "tcplab."):
    if info.name not in ENTRY_POINTS:
        __import__(info.name)
        modules.append(info.name)
print(json.dumps({"modules": modules, "calls": calls}))
"""


def test_importing_any_module_of_tcplab_does_nothing() -> None:
    code = f"ENTRY_POINTS = {sorted(ENTRY_POINTS)!r}\n{WATCH}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    out = json.loads(done.stdout)
    assert len(out["modules"]) > 50 and "tcplab.netns.record" in out["modules"]
    assert out["calls"] == []
