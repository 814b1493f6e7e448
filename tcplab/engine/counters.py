"""Kernel counters by their nstat names (TcpExtListenOverflows, TcpInSegs, IpExtInOctets, ...).

/proc/net/snmp and /proc/net/netstat hold pairs of lines, a header and its values, each starting with
a prefix ("Tcp:", "TcpExt:"): nstat names a counter by the prefix and the column, without the colon.
Inside a network namespace they are that namespace's own counters. Parsing and comparing are pure;
the runner reads the kernel host's texts (tcplab.netns.counters) and the scenario loader the names
this kernel has (the calling process' own namespace has the same names as any other).
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from tcplab.i18n import _

PROC_FILES = ("snmp", "netstat")
# IcmpMsg columns (IcmpMsgInType3, ...) appear only once such a message was counted
_DYNAMIC = re.compile(r"^IcmpMsg(In|Out)Type[0-9]{1,3}$")
_BOUND = re.compile(r"^\s*(>=|<=|>|<|=)?\s*([0-9]{1,12})\s*$")


def parse(*texts: str) -> dict[str, int]:
    """nstat name -> value, from the texts of /proc/net/snmp and /proc/net/netstat."""
    out: dict[str, int] = {}
    for text in texts:
        lines = text.splitlines()
        for head, values in zip(lines[::2], lines[1::2], strict=False):
            prefix, _, names = head.partition(":")
            numbers = values.partition(":")[2].split()
            for name, value in zip(names.split(), numbers, strict=False):
                if value.lstrip("-").isdigit():
                    out[prefix + name] = int(value)
    return out


@functools.cache
def known_names() -> frozenset[str] | None:
    """The counter names this kernel has (read from this process' namespace); None if /proc/net
    cannot be read (then names are checked when the scenario runs)."""
    try:
        texts = [(Path("/proc/self/net") / f).read_text() for f in PROC_FILES]
    except OSError:
        return None
    return frozenset(parse(*texts))


def unknown(name: str) -> str | None:
    """None if this kernel has the counter `name`; else the closest names, as a hint."""
    names = known_names()
    if names is None or name in names or _DYNAMIC.match(name):
        return None
    close = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.6)
    if close:
        return _("did you mean {names}").format(names=" or ".join(close))
    return _("use a name `nstat -az` prints, e.g. TcpExtListenOverflows or TcpInSegs")


@dataclass(frozen=True)
class Bound:
    """What a counter's increase must be: `op` one of = >= <= > <, and a number."""

    op: str
    value: int

    @classmethod
    def parse(cls, raw: object) -> Bound:
        """1 (exactly), or a string "1", ">=1", "<=2", ">0", "<3"; ValueError otherwise."""
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**12:
            return cls("=", raw)
        m = _BOUND.match(raw) if isinstance(raw, str) else None
        if m is None:
            raise ValueError("not a count")
        return cls(m.group(1) or "=", int(m.group(2)))

    def holds(self, delta: int) -> bool:
        return {
            "=": delta == self.value,
            ">=": delta >= self.value,
            "<=": delta <= self.value,
            ">": delta > self.value,
            "<": delta < self.value,
        }[self.op]

    def __str__(self) -> str:
        return str(self.value) if self.op == "=" else f"{self.op} {self.value}"


def deltas(before: dict[str, int], after: dict[str, int], names: list[str]) -> dict[str, int]:
    """How much each named counter went up (a counter missing from both reads stays 0)."""
    return {n: after.get(n, 0) - before.get(n, 0) for n in names}
