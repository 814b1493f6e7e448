"""Scenario files: TOML read with the standard library, checked completely before anything runs.

The grammar is documented in scenarios/README.md. Every error names the file, the line and the fix, and
is a DefinitionError (exit 2). A file is read without following a symlink or blocking on a FIFO, and
is bounded: at most MAX_FILE_BYTES, MAX_STEPS steps once `repeat` is applied, and MAX_WAIT seconds of
sleeps and silences, so no scenario can make `tcplab run` hang or fill the memory.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from tcplab import defaults
from tcplab.app.protocol import (
    CALLS,
    Accept,
    Arg,
    ArgProblem,
    Call,
    Connect,
    Kind,
    Listen,
    args_of,
    choice_list,
    number,
    shown,
)
from tcplab.engine import counters
from tcplab.engine.appexpect import EXPECT_KEYS, AppExpect, parse_expect
from tcplab.errors import DefinitionError
from tcplab.i18n import N_, _
from tcplab.model.notation import Bases, SegmentPattern, parse_pattern, to_options
from tcplab.model.segment import options_length
from tcplab.model.state import State
from tcplab.model.text import error_text
from tcplab.userfile import Refused, read_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMMON = {"conn", "why", "rfc", "linux", "repeat", "label"}
_TARGET = Arg(Kind.TEXT, example='target = "listener"')


def _scenario_args(call: type[Call[Any]]) -> dict[str, tuple[str, Arg]]:
    """An app call's keys in a scenario step -> (the protocol's argument, its checks); `target`
    (which socket: the conn's, or "listener") for calls a scenario may aim at the listener."""
    out = {
        spec.scenario: (name, spec) for name, (spec, _) in args_of(call).items() if spec.scenario
    }
    if call.listener_too:
        out["target"] = ("", _TARGET)
    return out


APP_CALLS = {  # op -> the keys its step takes, derived from tcplab.app.protocol
    op: set(_scenario_args(call)) for op, call in CALLS.items() if call.in_scenarios
}
_APP_KEYS: set[str] = set().union(*APP_CALLS.values())
SCENARIO_KEYS = {
    "title",
    "description",
    "port",
    "crafting_port",
    "iss",
    "long",
    "linux",
    "sysctl",
    "mutant_of",
    "fails_with",
    "ignore_extra",
    *("offloads", "mtu", "drop"),  # the link (Link)
}
TIMERS = {"off", "on", "keepalive", "timewait", "persist"}
_SYSCTL_RE = re.compile(r"^net\.(ipv4|core|ipv6)\.[a-z0-9_.]+$")
# what the kernel takes in a numeric sysctl: integers, several separated by spaces or tabs
_SYSCTL_VALUE_RE = re.compile(r"^-?[0-9]{1,20}([ \t]+-?[0-9]{1,20}){0,7}$")
_SYSCTL_WORD_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # a name: tcp_congestion_control = "reno"
_SHORT_SYSCTL_RE = re.compile(r"^[a-z0-9_]{1,64}$")  # in a sysctl step: tcp_rfc1337 = net.ipv4.…
LINK_MTU = 1500  # the testbed's veth pair; an IPv4 packet of a crafted segment must fit
_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_FILE_BYTES = 1 << 20  # the corpus' largest file is 1.3 KB
MAX_STEPS = 5000  # after `repeat`; the corpus' largest scenario has 16, a flood of 1000 SYNs 2000
MAX_WAIT = 3600.0  # seconds of sleep and expect_silence in all; the corpus' longest runs 63 s
_STEP_RE = re.compile(r"^\s*\[\[\s*step\s*\]\]")


@dataclass(frozen=True, kw_only=True)
class Step:
    """What every step has. Each kind of step is a subclass; `kind` is its action key."""

    kind: ClassVar[str]
    keys: ClassVar[frozenset[str]]  # what it may have besides its action and COMMON
    line: int
    conn: str = "main"
    why: str = ""
    rfc: str = ""
    linux: str = ""
    label: str = ""  # a name later steps can refer to (expect_counters' since)


@dataclass(frozen=True, kw_only=True)
class AppStep(Step):
    """The application makes `call` (a protocol class) with `args` (by the protocol's names); the
    runner adds the socket: the conn's, the listener's (`target = "listener"`, and accept), or
    for connect the conn's address."""

    kind = "app"
    keys = frozenset(_APP_KEYS | set(EXPECT_KEYS))
    call: type[Call[Any]]
    args: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    expect: AppExpect | None = None  # the outcome the step states (tcplab.engine.appexpect)


@dataclass(frozen=True, kw_only=True)
class SendStep(Step):
    """The crafting host sends a segment (seq and ack relative to the ISNs); `checksum = "bad"`
    spoils its TCP checksum."""

    kind = "send"
    keys = frozenset({"data", "checksum"})
    pattern: SegmentPattern
    data: bytes = b""
    bad_checksum: bool = False


@dataclass(frozen=True, kw_only=True)
class ExpectStep(Step):
    """The kernel's next segment on the conn matches the pattern, within a time (and a delay)."""

    kind = "expect"
    keys = frozenset({"within", "delay", "from", "checksum"})
    pattern: SegmentPattern
    within: float | None = None
    delay: tuple[float, float] | None = None
    since: int | None = None  # `from`: delay counts from the step on this line (0: the start)
    since_label: str = ""  # `from` named a label: resolved to its step's line once all are read
    checksum: str | None = None  # "valid" or "partial" (CHECKSUMS)


@dataclass(frozen=True, kw_only=True)
class SilenceStep(Step):
    """The kernel sends nothing on the conn for `seconds`."""

    kind = "expect_silence"
    keys = frozenset()
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class StateStep(Step):
    """The kernel's socket for the conn is in `state` (CLOSED: there is none), with
    the timer, the time it has left and the queue sizes given."""

    kind = "expect_state"
    keys = frozenset({"within", "timer", "expires", "rqueue", "wqueue", "retrans"})
    state: State
    timer: str | None = None
    expires: tuple[float, float] | None = None
    rqueue: int | None = None
    wqueue: int | None = None
    within: float | None = None
    retrans: int | None = None  # sock_diag's idiag_retrans: retransmissions of the running timer


@dataclass(frozen=True, kw_only=True)
class SleepStep(Step):
    """Nothing happens for `seconds`."""

    kind = "sleep"
    keys = frozenset()
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class CountersStep(Step):
    """The kernel host's counters (nstat names) went up by `expect` since the start of the run or
    since just before the step labelled `since`; read until they do, for up to `within` seconds."""

    kind = "expect_counters"
    keys = frozenset({"since", "within"})
    expect: dict[str, counters.Bound]
    since: str = "start"
    within: float = 0.5


@dataclass(frozen=True, kw_only=True)
class SysctlStep(Step):
    """Set per-namespace sysctls of the kernel host at this point (net.ipv4.NAME for a short NAME);
    the model predicts with the new values from here on."""

    kind = "sysctl"
    keys = frozenset()
    values: dict[str, str]


STEP_KINDS: tuple[type[Step], ...] = (
    AppStep,
    SendStep,
    ExpectStep,
    SilenceStep,
    StateStep,
    SleepStep,
    CountersStep,
    SysctlStep,
)
ACTIONS = tuple(k.kind for k in STEP_KINDS)  # a scenario file's action keys, in this order
KEYS = {k.kind: COMMON | k.keys for k in STEP_KINDS}


DROPS = ("data",)  # what `drop` can name: the kernel's Nth segment of that kind
CHECKSUMS = ("valid", "partial")  # what an expect step's checksum can require


@dataclass(frozen=True)
class Link:
    """The testbed's link for one scenario: tx offloads (off by default: captured checksums are
    real), the MTU of both ends, and kernel segments dropped on their way out (kind, nth)."""

    offloads: bool = False
    mtu: int | None = None
    drop: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    title: str
    description: str
    steps: tuple[Step, ...]
    port: int = defaults.APP_PORT
    crafting_port: int = 40000
    iss: int | None = None
    long: bool = False
    linux: str = ""
    sysctl: dict[str, str] = field(default_factory=dict)
    mutant_of: str = ""
    fails_with: str = ""
    ignore_extra: bool = False
    sysctl_lines: dict[str, int] = field(default_factory=dict, compare=False)

    def sysctl_writes(self) -> list[tuple[str, str, int]]:
        """Every sysctl value the run will write, (key, value, line): [scenario.sysctl] and the
        sysctl steps, for checking against the kernel before anything runs."""
        out = [(k, v, self.sysctl_lines.get(k, 1)) for k, v in self.sysctl.items()]
        for st in self.steps:
            if isinstance(st, SysctlStep):
                out += [(k, v, st.line) for k, v in st.values.items()]
        return out

    link: Link = field(default_factory=Link)


class _Where:
    """Finds line numbers in the raw text: tomllib gives none for values."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.step_lines = [i + 1 for i, ln in enumerate(self.lines) if _STEP_RE.match(ln)]

    def key(self, key: str, start: int = 1, end: int | None = None) -> int:
        rx = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        stop = end or len(self.lines) + 1
        for n in range(start, stop):
            if rx.match(self.lines[n - 1]):
                return n
        return start

    def step_span(self, index: int) -> tuple[int, int]:
        start = self.step_lines[index] if index < len(self.step_lines) else 1
        nxt = self.step_lines[index + 1] if index + 1 < len(self.step_lines) else None
        return start, nxt or len(self.lines) + 1

    def fail(self, line: int, message: str, hint: str) -> DefinitionError:
        return DefinitionError(f"{self.path}:{line}: {message}", hint)


def load(path: str | Path) -> Scenario:
    """Read and check one scenario file; DefinitionError with file:line on anything wrong."""
    p = Path(path)
    text = _text(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = m.group(1) if m else "?"
        raise DefinitionError(
            _("{path}:{line}: not valid TOML: {error}").format(
                path=p, line=line, error=str(exc).split(" (at")[0]
            ),
            _("see scenarios/README.md for the format"),
        ) from None
    except RecursionError:
        raise DefinitionError(
            _(
                "{path}: not valid TOML for a scenario: arrays or tables nested too deeply to read"
            ).format(path=p),
            _("a scenario needs no nesting deeper than [scenario.sysctl]; see scenarios/README.md"),
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise DefinitionError(
            _("{path}: not valid TOML for a scenario: {error}").format(
                path=p, error=str(exc).split(";")[0].lower()
            ),
            _("numbers in a scenario fit in 32 bits; see scenarios/README.md"),
        ) from None
    where = _Where(p, text)
    return _scenario(p, data, where)


def _text(p: Path) -> str:
    try:
        raw = read_bytes(str(p), MAX_FILE_BYTES)
    except Refused as exc:
        if exc.missing:
            raise DefinitionError(
                _("{path}: no such scenario file").format(path=p), _("check the path")
            ) from None
        raise DefinitionError(
            _("cannot read scenario {error}").format(error=exc),
            _("name a regular .toml file of at most {mib} MiB").format(mib=MAX_FILE_BYTES >> 20),
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DefinitionError(
            _("{path}:{line}: not UTF-8 text: the byte at offset {offset} is {byte}").format(
                path=p, line=line, offset=exc.start, byte=f"0x{raw[exc.start]:02x}"
            ),
            _("save the scenario as UTF-8"),
        ) from None


def _scenario(p: Path, data: dict[str, Any], where: _Where) -> Scenario:
    unknown = set(data) - {"scenario", "step"}
    if unknown:
        key = sorted(unknown)[0]
        raise where.fail(
            where.key(key),
            _("unknown top-level key {key}").format(key=shown(key)),
            _("a scenario has a [scenario] table and [[step]] tables"),
        )
    head = data.get("scenario")
    if not isinstance(head, dict) or "title" not in head:
        raise where.fail(
            1,
            _("no [scenario] table with a title"),
            _('start the file with [scenario] and title = "..."'),
        )
    for key in head:
        if key not in SCENARIO_KEYS:
            raise where.fail(
                where.key(key),
                _("unknown [scenario] key {key}").format(key=shown(key)),
                _("known keys: {keys}").format(keys=", ".join(sorted(SCENARIO_KEYS))),
            )
    raw_steps = data.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise where.fail(1, _("no [[step]] tables"), _("add steps: [[step]] with send = ... etc."))
    if len(raw_steps) > MAX_STEPS:
        raise where.fail(
            1,
            _("{n} steps, more than {most}").format(n=len(raw_steps), most=MAX_STEPS),
            _("split it into several scenarios"),
        )
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        steps.extend(_steps(raw, i, where, MAX_STEPS - len(steps)))
    _check_sockets(steps, where)
    _check_wait(steps, where)
    _check_labels(steps, where)
    steps = _resolve_from(steps, where)
    _check_since(steps, where)
    link = _link(head, where)
    _check_sizes(steps, where, link.mtu or LINK_MTU)
    sysctl = _sysctl(head.get("sysctl", {}), where)
    crafting_port = _int(head, "crafting_port", 40000, where, 1, 65535)
    _check_ports(crafting_port, steps, where)
    return Scenario(
        name=p.stem,
        path=p,
        title=str(head["title"]),
        description=str(head.get("description", "")),
        steps=tuple(steps),
        port=_int(head, "port", defaults.APP_PORT, where, 1, 65535),
        crafting_port=crafting_port,
        iss=_int(head, "iss", None, where, 0, (1 << 32) - 1),
        long=bool(head.get("long", False)),
        linux=str(head.get("linux", "")),
        sysctl=sysctl,
        mutant_of=str(head.get("mutant_of", "")),
        fails_with=str(head.get("fails_with", "")),
        ignore_extra=bool(head.get("ignore_extra", False)),
        sysctl_lines={k: where.key(k) for k in sysctl},
        link=link,
    )


def _link(head: dict[str, Any], where: _Where) -> Link:
    """The [scenario] table's link keys: offloads, mtu, drop."""
    offloads = head.get("offloads", False)
    if not isinstance(offloads, bool):
        raise where.fail(
            where.key("offloads"),
            _("offloads = {value} is not true or false").format(value=shown(offloads)),
            _("write offloads = true (tx checksum and segmentation offloads on) or false"),
        )
    mtu = _int(head, "mtu", None, where, 576, 9000)
    raw = head.get("drop", [])
    if not isinstance(raw, list):
        raise where.fail(where.key("drop"), _("drop must be a list"), _(_DROP_HINT))
    return Link(offloads, mtu, tuple(_drop(item, where) for item in raw))


_DROP_HINT = N_('write e.g. drop = ["data"] (the kernel\'s first data segment) or ["data 2"]')


def _drop(item: Any, where: _Where) -> tuple[str, int]:
    m = re.fullmatch(r"([a-z]+)(?: ([1-9][0-9]{0,3}))?", item) if isinstance(item, str) else None
    if m is None or m.group(1) not in DROPS:
        raise where.fail(
            where.key("drop"), _("cannot drop {item}").format(item=shown(item)), _(_DROP_HINT)
        )
    return m.group(1), int(m.group(2) or 1)


def _sysctl(table: Any, where: _Where) -> dict[str, str]:
    """[scenario.sysctl]: per-namespace net.* keys this kernel has, with values as the kernel
    takes them (integers, several separated by spaces; no newline, which would write twice)."""
    if not isinstance(table, dict):
        raise where.fail(
            where.key("sysctl"),
            _("sysctl must be a table"),
            _('write [scenario.sysctl] and lines such as "net.ipv4.tcp_syncookies" = 0'),
        )
    out: dict[str, str] = {}
    for key, value in table.items():
        if not _SYSCTL_RE.match(key):
            raise where.fail(
                where.key(key),
                _("bad sysctl name {key}").format(key=shown(key)),
                _("use a per-namespace net.ipv4/net.core sysctl, e.g. net.ipv4.tcp_syncookies"),
            )
        if not (Path("/proc/sys") / key.replace(".", "/")).is_file():
            raise where.fail(
                where.key(key),
                _("this kernel has no sysctl {key}").format(key=key),
                _("remove it, or use one that `sysctl -a` lists"),
            )
        out[key] = _sysctl_value(key, value, where, where.key(key))
    return out


def _sysctl_value(key: str, value: Any, where: _Where, line: int) -> str:
    """A sysctl value as the kernel takes it: integers, or one name (a congestion control)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not (
        _SYSCTL_VALUE_RE.match(text) or _SYSCTL_WORD_RE.match(text)
    ):
        raise where.fail(
            line,
            _("sysctl {key} = {value} is not an integer value or a name").format(
                key=key, value=shown(value)
            ),
            _(
                'write e.g. "{key}" = 1, "4096 131072 6291456" for several integers, or "reno"'
            ).format(key=key),
        )
    return text


def _check_ports(first: int, steps: list[Step], where: _Where) -> None:
    """Each conn takes the next crafting port: all of them must exist."""
    conns = len({st.conn for st in steps})
    last = first + conns - 1
    if last > 65535:
        raise where.fail(
            where.key("crafting_port"),
            _("crafting_port = {first} and {conns} connections need ports up to {last}").format(
                first=first, conns=conns, last=last
            ),
            _("each conn takes the next port: use crafting_port = {port} or lower").format(
                port=65536 - conns
            ),
        )


def _resolve_from(steps: list[Step], where: _Where) -> list[Step]:
    """An expect's `from = "LABEL"` becomes the line of the earlier step with that label."""
    lines: dict[str, int] = {}
    out: list[Step] = []
    for st in steps:
        if isinstance(st, ExpectStep) and st.since_label:
            if st.since_label not in lines:
                raise where.fail(
                    where.key("from", st.line),
                    _("from = {label} names no earlier step's label").format(
                        label=shown(st.since_label)
                    ),
                    _(
                        'label an earlier step (label = {label}), or write from = "line N" or '
                        '"start"'
                    ).format(label=shown(st.since_label)),
                )
            st = replace(st, since=lines[st.since_label], since_label="")
        if st.label:
            lines.setdefault(st.label, st.line)
        out.append(st)
    return out


def _check_since(steps: list[Step], where: _Where) -> None:
    """Each expect's `from = "line N"` names a step that runs before it."""
    earlier: list[int] = []
    for st in steps:
        if isinstance(st, ExpectStep) and st.since and st.since not in earlier:
            shown_lines = ", ".join(str(n) for n in earlier[-8:]) or _("none")
            raise where.fail(
                where.key("from", st.line),
                _('from = "line {line}" names no earlier step').format(line=st.since),
                _(
                    "name the line of an earlier step's action (earlier steps: {lines}), "
                    'or "start"'
                ).format(lines=shown_lines),
            )
        earlier.append(st.line)


def _check_wait(steps: list[Step], where: _Where) -> None:
    total = sum(st.seconds for st in steps if isinstance(st, (SleepStep, SilenceStep)))
    if total > MAX_WAIT:
        raise where.fail(
            1,
            _("the sleeps and silences add up to {total} s, more than {most} s").format(
                total=f"{total:g}", most=f"{MAX_WAIT:g}"
            ),
            _("shorten them, or lower repeat"),
        )


def _check_sockets(steps: list[Step], where: _Where) -> None:
    """Before anything runs: every app call has the socket it acts on (listen before accept,
    accept or connect before send/recv/close on a conn)."""
    listening = False
    owned: set[str] = set()
    for st in steps:
        if not isinstance(st, AppStep):
            continue
        if st.call is Listen:
            listening = True
        elif st.call.op == "socket":  # a socket for options before listen or connect
            listening = listening or st.target == "listener"
            owned.add(st.conn)
        elif st.call is Accept:
            if not listening:
                raise where.fail(
                    st.line,
                    _("accept before any listen"),
                    _('add an app = "listen" step before it'),
                )
            owned.add(st.conn)
        elif st.call is Connect:
            owned.add(st.conn)
        elif st.target == "listener":
            if not listening:
                raise where.fail(
                    st.line,
                    _("app {op} on the listener before any listen").format(op=st.call.op),
                    _('add an app = "listen" step before it'),
                )
        elif st.conn not in owned:
            raise where.fail(
                st.line,
                _("app {op} on conn {conn}, for which the application has no socket yet").format(
                    op=st.call.op, conn=repr(st.conn)
                ),
                _("accept (or connect) conn {conn} first").format(conn=repr(st.conn)),
            )


def _int(
    table: dict[str, Any],
    key: str,
    default: int | None,
    where: _Where,
    lo: int,
    hi: int,
    start: int = 1,
    end: int | None = None,
) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise where.fail(
            where.key(key, start, end),
            _("{key} = {value} is not a number from {lo} to {hi}").format(
                key=key, value=shown(value), lo=lo, hi=hi
            ),
            _("write e.g. {key} = {lo}").format(key=key, lo=lo),
        )
    return value


def _seconds(raw: dict[str, Any], key: str, where: _Where, start: int, end: int) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 600:
        raise where.fail(
            where.key(key, start, end),
            _("{key} = {value} is not a number of seconds").format(key=key, value=shown(value)),
            _("write e.g. {key} = 0.5").format(key=key),
        )
    return float(value)


def _range(
    raw: dict[str, Any], key: str, where: _Where, start: int, end: int
) -> tuple[float, float] | None:
    value = raw.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        or not 0 <= value[0] <= value[1] <= 3600  # nan and inf fail too
    ):
        raise where.fail(
            where.key(key, start, end),
            _("{key} = {value} is not a [min, max] range").format(key=key, value=shown(value)),
            _("write e.g. {key} = [0.8, 1.5] (seconds)").format(key=key),
        )
    return float(value[0]), float(value[1])


def _steps(raw: Any, index: int, where: _Where, room: int) -> list[Step]:
    start, end = where.step_span(index)
    if not isinstance(raw, dict):
        raise where.fail(start, _("a step must be a table"), _("write [[step]] and keys below it"))
    actions = [a for a in ACTIONS if a in raw]
    strange = [k for k in raw if k not in set().union(*KEYS.values())]
    if not actions and strange:
        raise where.fail(
            where.key(strange[0], start, end),
            _("unknown step {key}").format(key=shown(strange[0])),
            _("a step is one of: {actions}").format(actions=", ".join(ACTIONS)),
        )
    if len(actions) != 1:
        found = ", ".join(actions) or _("none")
        raise where.fail(
            start,
            _("a step needs exactly one action (found: {found})").format(found=found),
            _("use one of: {choices}").format(choices=", ".join(ACTIONS)),
        )
    kind = actions[0]
    for key in raw:
        if key != kind and key not in KEYS[kind]:
            raise where.fail(
                where.key(key, start, end),
                _("unknown key {key} in this {kind} step").format(key=shown(key), kind=kind),
                _("known keys: {keys}").format(keys=", ".join(sorted(KEYS[kind]))),
            )
    line = where.key(kind, start, end)
    step = _step(kind, raw, line, where, start, end)
    repeat = _int(raw, "repeat", 1, where, 1, 1000, start, end)
    if repeat > room:
        raise where.fail(
            where.key("repeat", start, end) if "repeat" in raw else start,
            _("more than {most} steps once repeat is applied").format(most=MAX_STEPS),
            _("lower repeat, or split the scenario into several"),
        )
    if repeat == 1:
        return [step]
    return [  # a label names the first of the repeated steps
        replace(step, conn=step.conn.replace("{i}", str(i)), label=step.label if i == 1 else "")
        for i in range(1, repeat + 1)
    ]


def _step(kind: str, raw: dict[str, Any], line: int, where: _Where, start: int, end: int) -> Step:
    conn = raw.get("conn", "main")
    if not isinstance(conn, str) or not re.match(r"^[A-Za-z0-9_{}-]{1,32}$", conn):
        raise where.fail(
            where.key("conn", start, end),
            _("bad conn name {name}").format(name=shown(conn)),
            _("use letters, digits, '_', '-' (and {{i}} with repeat)").format(),
        )
    base: dict[str, Any] = {
        "line": line,
        "conn": conn,
        "why": str(raw.get("why", "")),
        "rfc": str(raw.get("rfc", "")),
        "linux": str(raw.get("linux", "")),
        "label": _label(raw, where, start, end),
    }
    if kind == "expect_counters":
        return _counters_step(raw, base, where, start, end)
    if kind == "sysctl":
        return _sysctl_step(raw, base, where, start, end)
    if kind == "app":
        return _app_step(raw, base, where, start, end)
    if kind in ("send", "expect"):
        return _segment_step(kind, raw, base, where, start, end)
    if kind in ("expect_silence", "sleep"):
        seconds = _seconds(raw, kind, where, start, end) or 0.0
        return (
            SleepStep(**base, seconds=seconds)
            if kind == "sleep"
            else SilenceStep(**base, seconds=seconds)
        )
    return _state_step(raw, base, where, start, end)


def _label(raw: dict[str, Any], where: _Where, start: int, end: int) -> str:
    label = raw.get("label", "")
    if not isinstance(label, str) or not _LABEL_RE.match(label) and label != "":
        raise where.fail(
            where.key("label", start, end),
            _("bad label {label}").format(label=shown(label)),
            _('use letters, digits, "_" and "-", e.g. label = "flood"'),
        )
    if label == "start":
        raise where.fail(
            where.key("label", start, end),
            _('label "start" is taken: since = "start" means the start of the run'),
            _('choose another name, e.g. label = "begin"'),
        )
    return label


def _counters_step(
    raw: dict[str, Any], base: dict[str, Any], where: _Where, start: int, end: int
) -> CountersStep:
    """expect_counters = { NAME = N or ">=N", ... }: names this kernel has (as nstat prints them)."""
    line = base["line"]
    table = raw["expect_counters"]
    if not isinstance(table, dict) or not table:
        raise where.fail(
            line,
            _("expect_counters must be a table of counters"),
            _(
                "write e.g. expect_counters = {{ TcpExtListenOverflows = 1, "
                'TcpExtSyncookiesSent = ">=1" }}'
            ).format(),
        )
    expect: dict[str, counters.Bound] = {}
    for name, value in table.items():
        found = where.key(name, start, end)  # its own line in a [step.expect_counters] table
        at = found if found != start else line
        hint = counters.unknown(name)
        if hint is not None:
            raise where.fail(
                at, _("this kernel has no counter {name}").format(name=shown(name)), hint
            )
        try:
            expect[name] = counters.Bound.parse(value)
        except ValueError:
            raise where.fail(
                at,
                _("counter {name} = {value} is not a count").format(name=name, value=shown(value)),
                _('write {name} = 1 (went up by exactly 1), or ">=1", "<=2", ">0", "<3"').format(
                    name=name
                ),
            ) from None
    since = raw.get("since", "start")
    if not isinstance(since, str) or not (since == "start" or _LABEL_RE.match(since)):
        raise where.fail(
            where.key("since", start, end),
            _("since = {value} is not a label").format(value=shown(since)),
            _('write since = "start" (the default) or the label of an earlier step'),
        )
    within = _seconds(raw, "within", where, start, end)
    return CountersStep(
        **base, expect=expect, since=since, within=0.5 if within is None else within
    )


def _sysctl_step(
    raw: dict[str, Any], base: dict[str, Any], where: _Where, start: int, end: int
) -> SysctlStep:
    """sysctl = { tcp_rfc1337 = 1 }: a short name is net.ipv4's; a full net.* name as in
    [scenario.sysctl]."""
    line = base["line"]
    table = raw["sysctl"]
    if not isinstance(table, dict) or not table:
        raise where.fail(
            line,
            _("sysctl must be a table"),
            _("write e.g. sysctl = {{ tcp_rfc1337 = 1 }}").format(),
        )
    full: dict[str, Any] = {}
    for key, value in table.items():
        name = f"net.ipv4.{key}" if _SHORT_SYSCTL_RE.match(key) else key
        full[name] = value
    values = _sysctl(full, _StepWhere(where, line))
    return SysctlStep(**base, values=values)


class _StepWhere(_Where):
    """A _Where that puts every key on one line (an inline table's)."""

    def __init__(self, where: _Where, line: int) -> None:
        self.path, self.lines, self.step_lines = where.path, where.lines, where.step_lines
        self.line = line

    def key(self, key: str, start: int = 1, end: int | None = None) -> int:
        return self.line


def _check_labels(steps: list[Step], where: _Where) -> None:
    """Labels are unique; since names a label of an earlier step."""
    seen: set[str] = set()
    for st in steps:
        if isinstance(st, CountersStep) and st.since != "start" and st.since not in seen:
            raise where.fail(
                st.line,
                _("since = {label} names no earlier step").format(label=repr(st.since)),
                _('add label = "{label}" to an earlier step, or write since = "start"').format(
                    label=st.since
                ),
            )
        if st.label:
            if st.label in seen:
                raise where.fail(
                    st.line,
                    _("label {label} is used twice").format(label=repr(st.label)),
                    _("give each labelled step its own name"),
                )
            seen.add(st.label)


def _check_sizes(steps: list[Step], where: _Where, mtu: int = LINK_MTU) -> None:
    """A crafted segment fits in one IPv4 packet on the link: 20 bytes of IP header, 20 of TCP,
    the options padded, the data."""
    for st in steps:
        if not isinstance(st, SendStep):
            continue
        sized = Bases(
            ts_first=0, ts_last=0
        )  # the kernel's TS numbers take 4 bytes, whatever they are
        opts = options_length(to_options(st.pattern.options or (), sized))
        size = 40 + opts + len(st.data)
        if size > mtu:
            room = mtu - 40 - opts
            raise where.fail(
                st.line,
                _(
                    "the segment is {size} bytes as an IPv4 packet, more than the link's MTU of "
                    "{mtu}"
                ).format(size=size, mtu=mtu),
                _(
                    "send at most {room} bytes of data in one segment; split it into several sends"
                ).format(room=room),
            )


def _segment_step(
    kind: str, raw: dict[str, Any], base: dict[str, Any], where: _Where, start: int, end: int
) -> Step:
    line = base["line"]
    text = raw[kind]
    if not isinstance(text, str):
        raise where.fail(
            line,
            _("{kind} must be a segment in quotes").format(kind=kind),
            _('e.g. send = "S 0:0(0)"'),
        )
    try:
        pattern = parse_pattern(text, wild_ok=kind == "expect")
    except ValueError as exc:
        raise where.fail(
            line,
            _("bad segment {segment}: {error}").format(
                segment=shown(text, 60), error=error_text(exc, _)
            ),
            _("see the segment notation in scenarios/README.md"),
        ) from None
    data = raw.get("data", "")
    if not isinstance(data, str):
        raise where.fail(
            where.key("data", start, end),
            _("data = {value} is not text").format(value=shown(data)),
            _('write e.g. data = "hello"'),
        )
    payload = data.encode()
    delay = _range(raw, "delay", where, start, end)
    within = _seconds(raw, "within", where, start, end)
    checksum = _checksum(kind, raw, where, start, end)
    if kind == "expect":
        since = _since(raw, delay, where, start, end)
        label = raw["from"] if since == _LABELLED else ""
        return ExpectStep(
            **base,
            pattern=pattern,
            within=within,
            delay=delay,
            since=None if label else since,
            since_label=label,
            checksum=checksum,
        )
    assert pattern.length is not None
    if payload and len(payload) != pattern.length:
        raise where.fail(
            where.key("data", start, end),
            _("data has {n} bytes but the segment says ({length})").format(
                n=len(payload), length=pattern.length
            ),
            _("make LEN in SEQ:END(LEN) the data's length"),
        )
    return SendStep(
        **base,
        pattern=pattern,
        data=payload or b"x" * pattern.length,
        bad_checksum=checksum == "bad",
    )


def _checksum(kind: str, raw: dict[str, Any], where: _Where, start: int, end: int) -> str | None:
    """send: "bad" (or "valid"); expect: "valid" or "partial"."""
    value = raw.get("checksum")
    if value is None:
        return None
    allowed = ("bad", "valid") if kind == "send" else CHECKSUMS
    if value not in allowed:
        raise where.fail(
            where.key("checksum", start, end),
            f"{kind} checksum = {shown(value)}",
            _("use checksum = {choices}").format(choices=choice_list(allowed)),
        )
    return str(value)


_LABELLED = -1  # _since's answer for `from` naming a label


def _since(
    raw: dict[str, Any], delay: tuple[float, float] | None, where: _Where, start: int, end: int
) -> int | None:
    """`from`: "start", "line N" or a label naming an earlier step; 0 stands for the start."""
    value = raw.get("from")
    if value is None:
        return None
    line = where.key("from", start, end)
    if delay is None:
        raise where.fail(line, _("from without delay"), _("add delay = [min, max] (seconds)"))
    if value == "start":
        return 0
    m = re.fullmatch(r"line ([0-9]{1,7})", value) if isinstance(value, str) else None
    if m is None and isinstance(value, str) and _LABEL_RE.match(value):
        return _LABELLED
    if m is None:
        raise where.fail(
            line,
            f"from = {shown(value)}",
            _('write from = "line 12" or the label of an earlier step, or "start"'),
        )
    return int(m.group(1))


def _app_step(
    raw: dict[str, Any], base: dict[str, Any], where: _Where, start: int, end: int
) -> Step:
    """An app step's call and arguments, checked by the protocol's own rules (types, ranges,
    choices), in the file's words: its keys, line numbers and examples."""
    op = raw["app"]
    if not isinstance(op, str) or op not in APP_CALLS:
        raise where.fail(
            base["line"],
            _("unknown app call {op}").format(op=shown(op)),
            _("use one of: {choices}").format(choices=", ".join(APP_CALLS)),
        )
    call = CALLS[op]
    given = {k: v for k, v in raw.items() if k in _APP_KEYS}
    for key in given:
        if key not in APP_CALLS[op]:
            raise where.fail(
                where.key(key, start, end),
                _("app {op} takes no {key}").format(op=op, key=shown(key)),
                _("it takes: {keys}").format(keys=", ".join(sorted(APP_CALLS[op])) or _("nothing")),
            )
    specs = _scenario_args(call)
    for wanted in (
        ArgProblem.TYPE,
        ArgProblem.RANGE,
        ArgProblem.CHOICE,
    ):  # every type first, as ever
        for key, value in given.items():
            spec = specs[key][1]
            if spec.problem(value) is wanted:
                message, hint = _arg_problem(op, key, value, spec, wanted)
                raise where.fail(where.key(key, start, end), message, hint)
    args = {specs[k][0]: specs[k][1].normal(v) for k, v in given.items() if k != "target"}
    if "data" in given and "bytes" in given:
        raise where.fail(
            where.key("bytes", start, end),
            _("app {op} has both data and bytes").format(op=op),
            _('write data = "..." (these bytes) or bytes = N (N bytes of x), not both'),
        )

    def fail(key: str, message: str, hint: str) -> DefinitionError:
        return where.fail(where.key(key, start, end), message, hint)

    expect = parse_expect(raw, op, str(given.get("name", "")), fail)
    return AppStep(**base, call=call, args=args, target=given.get("target"), expect=expect)


def _arg_problem(op: str, key: str, value: Any, spec: Arg, problem: ArgProblem) -> tuple[str, str]:
    """(message, hint) for an app argument the protocol refuses."""
    if problem is ArgProblem.TYPE:
        return (
            _("{key} = {value} is not {kind}").format(
                key=key, value=shown(value), kind=spec.kind.shown
            ),
            _("write e.g. {example}").format(example=spec.example),
        )
    if problem is ArgProblem.RANGE:
        return (
            _("{key} = {value} is out of range").format(key=key, value=shown(value)),
            _("use {lo} to {hi}, e.g. {example}").format(
                lo=number(spec.lo), hi=number(spec.hi), example=spec.example
            ),
        )
    return f"{op} {key} = {shown(value)}", _("use {key} = {choices}").format(
        key=key, choices=choice_list(spec.choices)
    )


_STATE_HINT = N_('write e.g. expect_state = "ESTABLISHED" (CLOSED: no socket)')


def _state_step(
    raw: dict[str, Any], base: dict[str, Any], where: _Where, start: int, end: int
) -> StateStep:
    name = raw["expect_state"]
    line = base["line"]
    if not isinstance(name, str) or len(name) > 20:
        raise where.fail(
            line,
            _("expect_state = {value} is not a TCP state").format(value=shown(name)),
            _(_STATE_HINT),
        )
    try:
        state = State.parse(name)
    except ValueError as exc:
        raise where.fail(
            line, error_text(exc, _), _("CLOSED means: no socket for this connection")
        ) from None
    timer = raw.get("timer")
    if timer is not None and (not isinstance(timer, str) or timer not in TIMERS):
        raise where.fail(
            where.key("timer", start, end),
            _("unknown timer {timer}").format(timer=shown(timer)),
            _("use one of: {choices}").format(choices=", ".join(sorted(TIMERS))),
        )
    if timer == "timewait" and state not in (State.TIME_WAIT, State.FIN_WAIT_2):
        raise where.fail(
            where.key("timer", start, end),
            _("a socket in {state} never has the timewait timer").format(state=state),
            _("the timewait timer belongs to TIME_WAIT (and an orphaned FIN_WAIT_2)"),
        )
    details = ("timer", "expires", "rqueue", "wqueue", "retrans")
    if state is State.CLOSED and any(k in raw for k in details):
        raise where.fail(
            line,
            _("a CLOSED socket does not exist: it has no timer or queues"),
            _("drop timer, expires, rqueue, wqueue and retrans from this step"),
        )
    return StateStep(
        **base,
        state=state,
        timer=timer,
        expires=_range(raw, "expires", where, start, end),
        rqueue=_int(raw, "rqueue", None, where, 0, 1 << 30, start, end),
        wqueue=_int(raw, "wqueue", None, where, 0, 1 << 30, start, end),
        within=_seconds(raw, "within", where, start, end),
        retrans=_int(raw, "retrans", None, where, 0, 255, start, end),
    )


def collect(paths: list[str]) -> list[Scenario]:
    """Scenario files named, or *.toml in folders named (not recursing into mutants/)."""
    files: list[Path] = []
    for raw in paths:
        if not raw.strip():
            raise DefinitionError(_("an empty scenario path"), _("name .toml files or folders"))
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(p.glob("*.toml")))
        else:
            files.append(p)
    if not files:
        named = ", ".join(paths)
        raise DefinitionError(
            _("no scenario files in {paths}").format(paths=named[:200]),
            _("name .toml files or folders holding them"),
        )
    return [load(f) for f in files]
