"""The student's context: what a solution (or `tcplab shell`) is told about its lab.

Built by the checker (`lab check`, and `tcplab grade` on top of it) and by `tcplab shell`; read by
tcplab.student.Lab in the crafting namespace. It travels as one JSON object in the environment
variable TCPLAB_CONTEXT, whose keys are this class's fields (a solution may read it directly).
Pure data: no scapy, no sockets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _

CONTEXT_ENV = "TCPLAB_CONTEXT"


@dataclass(frozen=True)
class LabContext:
    """Addresses, the interface, the kernel's port, the application's control socket; when
    grading, the student's own ports (only these reach the kernel) and ISN."""

    crafting_addr: str
    kernel_addr: str
    iface: str
    port: int  # the kernel host's listening port
    crafting_mac: str
    kernel_mac: str
    app_control: str  # the application's control socket (the grading proxy's, when graded)
    lab: str = ""  # the exercise's name ("shell" in tcplab shell)
    sport: int | None = None  # the solution's first port (None: Lab() picks one)
    ports: tuple[int, ...] = ()  # when grading: the only ports of ours that reach the kernel
    isn: int | None = None  # when grading: the student's ISN (None: Lab() picks one)

    def to_json(self) -> str:
        data = asdict(self)
        data["ports"] = list(self.ports)
        return json.dumps({k: v for k, v in data.items() if v is not None})

    def to_env(self) -> dict[str, str]:
        """The environment variable that carries it, for a child process's environment."""
        return {CONTEXT_ENV: self.to_json()}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LabContext:
        """From the JSON object's keys; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["ports"] = tuple(int(p) for p in values.get("ports", ()))
        for key in ("port", "sport", "isn"):
            if values.get(key) is not None:
                values[key] = int(values[key])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> LabContext:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(_("the lab context is not a JSON object"))
        return cls.from_mapping(data)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LabContext:
        """The context this process was started with; EnvironmentProblem outside a lab."""
        raw = (os.environ if environ is None else environ).get(CONTEXT_ENV)
        if not raw:
            raise EnvironmentProblem(
                _(
                    "no lab context ({CONTEXT_ENV} is not set): a solution runs under "
                    "'tcplab lab check NAME FILE' or in 'tcplab shell', not on its own"
                ).format(CONTEXT_ENV=CONTEXT_ENV),
                _("run it with 'tcplab lab check NAME FILE', or work in 'tcplab shell'"),
            )
        try:
            return cls.from_json(raw)
        except (TypeError, ValueError) as exc:
            raise EnvironmentProblem(
                _("the lab context in {CONTEXT_ENV} is not readable: {exc}").format(
                    CONTEXT_ENV=CONTEXT_ENV, exc=exc
                ),
                _("run it with 'tcplab lab check NAME FILE', or work in 'tcplab shell'"),
            ) from exc
