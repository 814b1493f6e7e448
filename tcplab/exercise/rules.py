"""The rules a solution is run and judged by, the same in `lab check` and `tcplab grade`, so that a
solution's local score is its graded score.

Theory of operation: both commands run a solution through tcplab.exercise.checker.check_solution,
which takes these rules from here: the student's own crafting ports (only they reach the kernel;
nft.only_ports drops the others in the kernel host), an ISN, and the sysctls pinned in both
namespaces. Grading draws the ports and ISN from its seed and the student's id; `lab check` draws
them afresh for each run. When the port rule dropped segments, the result says so with the rule's
text (`PortsDropped`), in `lab check`'s output and in every grading report.

What grading adds are its limits (CPU, memory, processes, file size, output) and the sandbox; a
graded run stopped at a limit says so in its verdict, and a `lab check` run that went past one says
which, with the limit's text (`beyond_limits`), because graded it would have been stopped there.

Pure: no namespace, no clock beyond the random draw of `own_ports`.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass, replace
from typing import Any

from tcplab.exercise.recording import Recording
from tcplab.i18n import N_, _, ngettext
from tcplab.sandbox.cgroup import Usage
from tcplab.sandbox.runner import Limits

PORTS_PER_STUDENT = 16
PORT_RANGE = range(20000, 60000)

# Pinned in both namespaces of every checked or graded testbed (a lab's own sysctls are applied on
# top), so a machine's or a kernel's defaults cannot change a score; what was in force goes into
# each result.
PINNED_SYSCTLS = {
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv4.tcp_timestamps": "1",
    "net.ipv4.tcp_sack": "1",
    "net.ipv4.tcp_dsack": "1",
    "net.ipv4.tcp_window_scaling": "1",
    "net.ipv4.tcp_ecn": "2",
    "net.ipv4.tcp_syn_retries": "6",
    "net.ipv4.tcp_synack_retries": "5",
    "net.ipv4.tcp_fin_timeout": "60",
    "net.ipv4.tcp_tw_reuse": "2",
    "net.ipv4.tcp_rfc1337": "0",
    "net.ipv4.tcp_abort_on_overflow": "0",
    "net.ipv4.tcp_challenge_ack_limit": "2147483647",
    "net.ipv4.tcp_invalid_ratelimit": "500",
    "net.ipv4.tcp_fastopen": "1",
    "net.ipv4.tcp_mtu_probing": "0",
    "net.ipv4.tcp_base_mss": "1024",
    "net.ipv4.tcp_early_retrans": "3",
    "net.ipv4.tcp_retries2": "15",
    "net.ipv4.tcp_orphan_retries": "0",
    "net.ipv4.tcp_keepalive_time": "7200",
    "net.ipv4.tcp_rmem": "4096 131072 6291456",
    "net.ipv4.tcp_wmem": "4096 16384 4194304",
    "net.ipv4.tcp_congestion_control": "reno",  # the one every kernel has and allows
    "net.ipv4.tcp_max_syn_backlog": "1024",
    "net.ipv4.tcp_max_tw_buckets": "4096",
    "net.core.somaxconn": "4096",
}

PORT_RULE = N_(
    "only your own ports reach the kernel, lab.sport and lab.ports, which lab.new_port() hands "
    "out; segments from any other port are dropped before the kernel sees them and are not judged"
)
PORT_FIX = N_("send from lab.sport or lab.new_port(), never from a port number of your own")


def assign(seed: str, student: str, lab: str) -> tuple[list[int], int]:
    """A student's crafting ports and ISN for a lab when grading: the same for the same seed."""
    digest = hashlib.sha256(f"{seed}\0{student}\0{lab}".encode()).digest()
    return _draw(random.Random(digest))


def own_ports() -> tuple[list[int], int]:
    """Ports and ISN for one `lab check` run, drawn like grading's, afresh each time."""
    return _draw(random.Random(secrets.randbits(64)))


def _draw(rng: random.Random) -> tuple[list[int], int]:
    return rng.sample(PORT_RANGE, PORTS_PER_STUDENT), rng.randrange(1, 2**31)


@dataclass(frozen=True)
class PortsDropped:
    """What the port rule kept from the checks: the crafted segments it dropped (`sent`, from
    `ports`) and, among `segments`, the kernel's to those ports (an app_connect() to one)."""

    allowed: tuple[int, ...]
    ports: tuple[int, ...]
    sent: int
    segments: int

    def text(self) -> str:
        """One line for people: what the rule kept out, the rule's text, and what to do."""
        froms = _numbers(self.ports)
        if self.sent:
            what = ngettext(
                "{n} segment you sent from port {ports} was dropped before the kernel",
                "{n} segments you sent from port {ports} were dropped before the kernel",
                self.sent,
            ).format(n=self.sent, ports=froms)
        else:
            what = ngettext(
                "the kernel's {n} segment to port {ports} were ignored",
                "the kernel's {n} segments to port {ports} were ignored",
                self.segments,
            ).format(n=self.segments, ports=froms)
        rule = _(
            "only your own ports reach the kernel, lab.sport ({sport}) and lab.ports "
            "({ports}), which lab.new_port() hands out"
        ).format(sport=self.allowed[0], ports=_numbers(self.allowed))
        return _("port rule: {what} and not judged; rule: {rule}; do: {fix}").format(
            what=what, rule=rule, fix=_(PORT_FIX)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": PORT_RULE,
            "dropped": self.sent,
            "ignored": self.segments,
            "ports": list(self.ports),
            "allowed": list(self.allowed),
            "text": self.text(),
        }


def _numbers(ports: tuple[int, ...], shown: int = 6) -> str:
    listed = ", ".join(str(p) for p in ports[:shown])
    if len(ports) <= shown:
        return listed
    return _("{ports} and {n} more").format(ports=listed, n=len(ports) - shown)


def ports_dropped(rec: Recording) -> PortsDropped | None:
    """What the port rule kept from the checks in a recorded run (None: nothing, or no rule)."""
    if not rec.allowed:
        return None
    allowed = set(rec.allowed)
    ports: set[int] = set()
    sent = segments = 0
    for seen in rec.seen:
        seg = seen.segment
        ours = seg.dport if seen.from_kernel else seg.sport
        if ours not in allowed:
            ports.add(ours)
            segments += 1
            sent += not seen.from_kernel
    if not segments:
        return None
    return PortsDropped(tuple(rec.allowed), tuple(sorted(ports)), sent, segments)


def graded_limits(time_limit: float, base: Limits | None = None) -> Limits:
    """Grading's limits for a run of `time_limit` seconds (the CPU time follows the clock)."""
    return replace(base or Limits(), wall_s=time_limit, cpu_s=max(1, int(time_limit + 0.999)))


def beyond_limits(output_bytes: int, usage: Usage | None, limits: Limits) -> list[str]:
    """What a `lab check` run (no limits but the clock) used past grading's limits, each with the
    limit's text and what grading does there: it stops the program, so the kernel sees less."""
    notes = []
    if output_bytes > limits.output:
        notes.append(
            _(
                "grading's limit: {limit} KiB of output; your program wrote {used} KiB: graded, "
                "it is stopped there (runtime_error)"
            ).format(limit=limits.output >> 10, used=output_bytes >> 10)
        )
    if usage is not None and usage.cpu_s > limits.cpu_s:
        notes.append(
            _(
                "grading's limit: {limit} s of CPU time; your program used {used} s: graded, "
                "it is stopped there (time_limit)"
            ).format(limit=limits.cpu_s, used=f"{usage.cpu_s:.1f}")
        )
    if usage is not None and usage.peak_memory > limits.memory:
        notes.append(
            _(
                "grading's limit: {limit} MiB of memory; your program's peak was {used} MiB "
                "(with the interpreter and scapy, which a graded run shares with the grader): "
                "graded, it may be stopped there (memory_limit)"
            ).format(limit=limits.memory >> 20, used=f"{usage.peak_memory / (1 << 20):.0f}")
        )
    return notes
