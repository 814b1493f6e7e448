"""The crafting host's nftables rule, through the nft command (run inside the namespace).

The crafting host's own kernel owns no socket for the connections the student crafts, so it would answer
the kernel host's SYN+ACK or data with a RST of its own and spoil the exercise. The rule drops exactly
those: RSTs that the crafting host's *kernel* sends from its testbed address to the kernel host on the
testbed's link. Segments crafted by tcplab or scapy leave through AF_PACKET, which netfilter does not
see, so a student's own RST still goes out; nothing arriving is filtered, so every reply is seen.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _
from tcplab.netns.enter import inside
from tcplab.netns.record import IFNAME, TestbedSpec

TABLE = "tcplab"
COMMENT = "tcplab: the crafting host's kernel must not reset crafted connections"


def nft_path() -> str:
    path = shutil.which("nft")
    if path is None:
        raise EnvironmentProblem(
            _("nft (nftables) is not installed"), _("install it: sudo apt-get install nftables")
        )
    return path


def ruleset(spec: TestbedSpec) -> str:
    return (
        f"table ip {TABLE} {{\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy accept;\n"
        f'    oifname "{IFNAME}" ip saddr {spec.crafting_addr} ip daddr {spec.kernel_addr} '
        f'tcp flags & rst == rst counter drop comment "{COMMENT}"\n'
        "  }\n"
        "}\n"
    )


def _nft(ns: str, args: list[str], stdin: str | None = None) -> str:
    exe = nft_path()
    with inside(ns):
        proc = subprocess.run(
            [exe, *args], input=stdin, capture_output=True, text=True, check=False, timeout=20
        )
    if proc.returncode != 0:
        msg = proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else "no message"
        raise EnvironmentProblem(
            _("nft failed in {ns}: {msg}").format(ns=ns, msg=msg),
            _("check that nftables works here"),
        )
    return proc.stdout


def install(spec: TestbedSpec) -> None:
    """Add the rule in the crafting namespace (replacing an earlier copy of tcplab's table)."""
    _nft(spec.crafting, ["-f", "-"], f"table ip {TABLE}\ndelete table ip {TABLE}\n" + ruleset(spec))


def read(spec: TestbedSpec) -> dict[str, Any] | None:
    """The rule as nft shows it (with its counter), or None if tcplab's table is not there."""
    nft_path()  # a missing nft is said as such, not as a missing rule
    try:
        out = _nft(spec.crafting, ["-j", "list", "table", "ip", TABLE])
    except EnvironmentProblem:
        return None
    for item in json.loads(out).get("nftables", []):
        rule = item.get("rule")
        if rule and rule.get("comment") == COMMENT:
            packets = next(
                (e["counter"]["packets"] for e in rule.get("expr", []) if "counter" in e), 0
            )
            return {
                "table": TABLE,
                "chain": rule.get("chain"),
                "dropped": packets,
                "text": ruleset(spec).splitlines()[3].strip(),
            }
    return None


CRAFTED_ONLY = "tcplab: during a check only crafted segments leave the crafting host"


def crafted_only(spec: TestbedSpec) -> None:
    """Drop every TCP segment the crafting host's own stack would send: while a solution is being
    checked, a kernel socket in ns1 (socket.create_connection) must not do the student's work.
    Segments sent through AF_PACKET (tcplab, scapy's send/sendp/sr) never pass this hook."""
    rule = (
        f'add rule ip {TABLE} output oifname "{IFNAME}" ip saddr {spec.crafting_addr} '
        f'meta l4proto tcp counter drop comment "{CRAFTED_ONLY}"\n'
    )
    _nft(spec.crafting, ["-f", "-"], rule)


ONLY_PORTS = "tcplab: only the solution's own ports reach the kernel"


def only_ports(spec: TestbedSpec, ports: list[int]) -> None:
    """In the kernel host, drop TCP from the crafting host unless it comes from one of `ports`
    (the solution's own: drawn for a `lab check` run, assigned to the student when grading), so a
    solution is judged by the same rule in both: hard-coded numbers, or numbers copied from
    somebody else's run, never reach the kernel. The capture still sees them, and reports them.
    Only a datagram's first fragment holds its ports (nft's fast path would read a later one's
    data as ports): later ones pass, and are reassembled only behind an allowed first one."""
    if not ports:
        raise ValueError("only_ports needs at least one port")
    allowed = ", ".join(str(p) for p in sorted(set(ports)))
    _nft(
        spec.kernel,
        ["-f", "-"],
        f"table ip {TABLE} {{\n"
        "  chain prerouting {\n"
        "    type filter hook prerouting priority raw; policy accept;\n"
        f'    iifname "{IFNAME}" ip saddr {spec.crafting_addr} ip frag-off & 0x1fff == 0 '
        f"tcp sport != {{ {allowed} }} "
        f'counter drop comment "{ONLY_PORTS}"\n'
        "  }\n"
        "}\n",
    )


LINK_TABLE = "tcplab_link"
DROP = "tcplab: the link loses this kernel segment on its way to the crafting host"
_DROP_MATCH = {  # what a scenario's `drop` names, as nft matches it
    "data": "tcp flags & (fin | syn | rst | psh) == psh",
}


def drop_kernel(spec: TestbedSpec, drops: list[tuple[str, int]]) -> None:
    """Lose the kernel's `nth` segment of each kind on the link: dropped as it enters the crafting
    host (prerouting), after the kernel host sent it and its capture saw it, so the kernel's TCP
    takes it for a loss on the wire and retransmits. The rules live in the crafting namespace and
    go with it. numgen counts the matching segments from 0."""
    if not drops:
        return
    rules = "".join(
        f'    iifname "{IFNAME}" ip saddr {spec.kernel_addr} ip daddr {spec.crafting_addr} '
        f"{_DROP_MATCH[kind]} numgen inc mod 1000000 {nth - 1} counter drop "
        f'comment "{DROP}: {kind} {nth}"\n'
        for kind, nth in drops
    )
    _nft(
        spec.crafting,
        ["-f", "-"],
        f"table ip {LINK_TABLE} {{\n"
        "  chain prerouting {\n"
        "    type filter hook prerouting priority raw; policy accept;\n"
        f"{rules}"
        "  }\n"
        "}\n",
    )


def dropped(spec: TestbedSpec) -> dict[str, int]:
    """How many segments each drop rule lost ("data 1" -> 1)."""
    try:
        out = _nft(spec.crafting, ["-j", "list", "table", "ip", LINK_TABLE])
    except EnvironmentProblem:
        return {}
    counts = {}
    for item in json.loads(out).get("nftables", []):
        rule = item.get("rule") or {}
        comment = str(rule.get("comment", ""))
        if comment.startswith(DROP):
            packets = next(
                (e["counter"]["packets"] for e in rule.get("expr", []) if "counter" in e), 0
            )
            counts[comment.removeprefix(DROP + ": ")] = packets
    return counts
