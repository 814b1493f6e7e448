"""What grading one student's solution to one lab produced: the verdict, the score, each check,
and everything needed to explain and reproduce it. Every output format is written from these."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tcplab.exercise.kit import ScoredCheck
from tcplab.i18n import N_, _


class Verdict(str, Enum):
    """How the run ended. The score always comes from what the grader observed of the kernel;
    the verdict says why the solution stopped. Only an environment error is not the student's:
    it has no score and is to be graded again."""

    SCORED = "scored"  # the solution ended by itself with status 0
    TIME_LIMIT = "time_limit"  # still running at the wall-clock limit, or out of CPU time
    MEMORY_LIMIT = "memory_limit"  # killed at the memory cap
    RUNTIME_ERROR = "runtime_error"  # a traceback, a non-zero status, a signal, too much output
    ENVIRONMENT_ERROR = "environment_error"  # the grader or the machine failed, not the student
    MISSING = "missing"  # no solution file for this lab
    MISNAMED = (
        "misnamed"  # no LAB.py, but a file that looks meant to be it (Handshake.py, rst.py.txt)
    )
    REFUSED = "refused"  # not run: not a folder; a symlink, FIFO, folder, giant, not UTF-8 (no coding line)


# The verdicts as people read them. The values themselves are machine-readable (grade.json,
# gradebook.csv, JUnit) and never change with the language; these are what a terminal and a
# report show: the value (the progress lines, the summary) or its words (the reports).
_SHOWN = (
    N_("scored"), N_("time_limit"), N_("memory_limit"), N_("runtime_error"),
    N_("environment_error"), N_("missing"), N_("misnamed"), N_("refused"),
)  # fmt: skip
_WORDS = (N_("time limit"), N_("memory limit"), N_("runtime error"), N_("environment error"))


def shown_verdict(v: Verdict) -> str:
    """The verdict's value in the language spoken ("time_limit" in English)."""
    return _(v.value)


def verdict_words(v: Verdict) -> str:
    """The verdict in words, in the language spoken ("time limit" in English)."""
    return _(v.value.replace("_", " "))


@dataclass
class Outcome:
    student: str  # the safe internal id: out/STUDENT/, keys, merges (see grade/submission.py)
    lab: str
    lab_title: str
    verdict: Verdict
    message: str  # one line for people: why this verdict
    max_score: int
    score: int | None  # None for an environment error
    checks: list[ScoredCheck] = field(default_factory=list)
    stdout: str = ""  # capped excerpts, for the student's eyes only
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_memory: int = 0
    ports: list[int] = field(default_factory=list)  # the crafting ports assigned to the student
    isn: int | None = None  # the ISN suggested to the student (lab.isn)
    foreign_segments: int = 0  # crafted segments from ports not assigned, dropped and ignored
    port_rule: dict[str, Any] | None = None  # PortsDropped.to_json(): the rule's text, what it kept
    flags: list[str] = field(default_factory=list)  # for the instructor: e.g. a reference's copy
    environment: dict[str, Any] = field(default_factory=dict)  # kernel, sysctls, limits, versions
    ladder: dict[str, Any] | None = None  # Report.to_json() of what was observed
    ladder_text: str = ""  # the ladder diagram as plain text (filled in by the CLI)
    ladder_html: str = ""  # and as HTML
    pcap: str | None = None  # path of the capture, relative to the output folder
    report: Any = field(default=None, repr=False, compare=False)  # the engine's Report, to render
    name: str = ""  # how people know the student: the folder's real name, or the roster's name
    student_id: str = ""  # the course's id for the student (the roster's; Moodle's/Canvas's)
    email: str = ""  # from the roster, when it has one
    id_from: str = ""  # where student_id comes from: "roster", "moodle", "canvas", "classroom"

    @property
    def display(self) -> str:
        """The name shown to people (the internal id when no other is known)."""
        return self.name or self.student

    @property
    def full_marks(self) -> bool:
        return self.score is not None and self.score == self.max_score

    @property
    def signal_name(self) -> str | None:
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return str(self.signal)

    def to_json(self) -> dict[str, Any]:
        return {
            "student": self.student,
            "name": self.display,
            "student_id": self.student_id,
            "email": self.email,
            "id_from": self.id_from,
            "lab": self.lab,
            "lab_title": self.lab_title,
            "verdict": self.verdict.value,
            "message": self.message,
            "score": self.score,
            "max_score": self.max_score,
            "checks": [r.to_json() for r in self.checks],
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exit_code": self.exit_code,
            "signal": self.signal_name,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "peak_memory_bytes": self.peak_memory,
            "ports": self.ports,
            "isn": self.isn,
            "foreign_segments": self.foreign_segments,
            "port_rule": self.port_rule,
            "flags": self.flags,
            "environment": self.environment,
            "pcap": self.pcap,
            "ladder": self.ladder,
        }
