"""Everything a lab's checks see of one run, kept so that it can be scored again without root.

Theory of operation: `lab check` (and grading) observe a solution live — the kernel host's capture,
its socket table sampled every few milliseconds, the kernel-side application's log of the calls it
served, the sysctls the model reads — and make a Recording of it. The checks never see the live
session: the observation, the replay through tcplab's one TCP model and the checklist all run on the
Recording (tcplab.exercise.checker.evaluate), so a run scored live and the same run scored from its
JSON file (`lab check --record FILE`, tests/fixtures/labs/LAB/recorded/) get the same result.

The capture is kept as raw frames (hex) and parsed again on load, exactly as the live session parsed
them. Pure data and JSON; no session, no namespace.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tcplab.app.protocol import Event
from tcplab.engine.seen import Seen
from tcplab.exercise.kit import Sample
from tcplab.model.endpoint import Sysctls
from tcplab.model.state import State
from tcplab.wire.capture import Frame

FORMAT = 1
Key = tuple[int, int]  # (the crafting host's port, the kernel's port)


@dataclass
class Recording:
    lab: str
    kernel_addr: str
    frames: list[Frame]
    samples: dict[Key, list[Sample]]
    listener: list[Sample]
    events: list[Event]
    sysctls: Sysctls
    exit_code: int | None
    timed_out: bool
    dropped: int = 0  # application calls its log did not keep
    allowed: list[int] | None = None  # grading: only these crafting ports reach the kernel
    ports: list[int] = field(default_factory=list)  # the lab's listening ports
    output: str = ""  # what the program printed (never read by a check)
    ended: float | None = None  # when the program ended (time.time(), the capture's clock)
    hosts: tuple[str, str] = ("crafting host", "kernel host")  # "ns 10.x.y.z", for the ladder
    seen: list[Seen] = field(default_factory=list)  # the frames parsed (the live session's own)

    def __post_init__(self) -> None:
        if not self.seen and self.frames:
            self.seen = parse(self.frames, self.kernel_addr)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "lab": self.lab,
            "kernel_addr": self.kernel_addr,
            "frames": [
                {"time": f.time, "outgoing": f.outgoing, "seen": f.seen, "data": f.data.hex()}
                for f in self.frames
            ],
            "samples": [
                {"sport": k[0], "kport": k[1], "samples": [_sample(s) for s in v]}
                for k, v in self.samples.items()
            ],
            "listener": [_sample(s) for s in self.listener],
            "events": [e.to_wire() for e in self.events],
            "sysctls": asdict(self.sysctls),
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "dropped": self.dropped,
            "allowed": self.allowed,
            "ports": self.ports,
            "output": self.output,
            "hosts": list(self.hosts),
            "ended": self.ended,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recording:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a tcplab recording of format {FORMAT}")
        known = {f.name for f in fields(Sysctls)}
        return cls(
            lab=str(data["lab"]),
            kernel_addr=str(data["kernel_addr"]),
            frames=[
                Frame(
                    bytes.fromhex(f["data"]), float(f["time"]), bool(f["outgoing"]), int(f["seen"])
                )
                for f in data["frames"]
            ],
            samples={
                (int(c["sport"]), int(c["kport"])): [_unsample(s) for s in c["samples"]]
                for c in data["samples"]
            },
            listener=[_unsample(s) for s in data["listener"]],
            events=[Event.from_wire(e) for e in data["events"]],
            sysctls=Sysctls(**{k: int(v) for k, v in data["sysctls"].items() if k in known}),
            exit_code=data["exit_code"],
            timed_out=bool(data["timed_out"]),
            dropped=int(data.get("dropped", 0)),
            allowed=data.get("allowed"),
            ports=[int(p) for p in data.get("ports", [])],
            output=str(data.get("output", "")),
            hosts=(str(data["hosts"][0]), str(data["hosts"][1])),
            ended=data.get("ended"),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Recording:
        return cls.from_json(json.loads(path.read_text()))


def parse(frames: list[Frame], kernel_addr: str) -> list[Seen]:
    """The frames as the live session parsed them (tcplab.engine.intake: the same reading, the
    direction from where each frame was captured)."""
    from tcplab.engine.intake import parse as parse_frames

    return parse_frames(frames, kernel_addr)


def _sample(s: Sample) -> dict[str, Any]:
    return {
        "time": s.time,
        "state": s.state.name,
        "timer": s.timer,
        "expires_ms": s.expires_ms,
        "rqueue": s.rqueue,
        "read": s.read,
    }


def _unsample(d: dict[str, Any]) -> Sample:
    read = d.get("read")
    return Sample(
        float(d["time"]),
        State[d["state"]],
        str(d["timer"]),
        int(d["expires_ms"]),
        int(d["rqueue"]),
        None if read is None else float(read),
    )
