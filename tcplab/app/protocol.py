"""The kernel-side application's protocol: every call and every reply, defined once.

Theory of operation: a client writes one JSON object per line, `{"op": NAME, ARGUMENT: VALUE, ...}`;
the application answers each line, in order, with one line: `{"ok": true, FIELD: VALUE, ...}` or
`{"ok": false, "error": MESSAGE, "reason": REASON}`. Each call is a frozen dataclass below, its
arguments described by `arg(...)` (type, range, choices, default, the key a scenario file writes it
with, whether a graded solution may set it); its reply class is its type parameter. The server's
dispatch, the client, the grading proxy's allow-list, the scenario schema's app steps and the
student API are all derived from these classes: a new call is one class here and its method in
server.py.

Constructing a call checks its arguments (AppError if one is wrong); decoding a line never raises:
anything malformed, unknown or out of range becomes an `Error` reply. Only the standard library is
imported, so the application process still starts in a few tens of milliseconds.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import ipaddress
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, Union

from tcplab import defaults

Address = tuple[str, int]  # (IPv4 address, port), a JSON [addr, port] on the wire
SOCKET_OPTIONS = (  # what setsockopt may set (server.py maps each to its level and number)
    "SO_LINGER",
    "SO_RCVBUF",
    "SO_SNDBUF",
    "SO_REUSEADDR",
    "TCP_NODELAY",
    "TCP_MAXSEG",
    "TCP_QUICKACK",
    "TCP_DEFER_ACCEPT",
    "TCP_SYNCNT",
)
HISTORY_LIMIT = 10_000  # calls the application's log keeps (History)
MAX_WAIT = 10  # s: the application answers each call within this (the client waits as long)
_C_INT = (1 << 31) - 1


# -- errors ----------------------------------------------------------------------------------------
class Reason(str, enum.Enum):
    """Why a call got no result: who must act differently."""

    MALFORMED = "malformed"  # not a JSON object with an "op"
    UNKNOWN_CALL = "unknown_call"  # no such call (or not offered to this client)
    BAD_ARGUMENT = "bad_argument"  # an argument missing, unknown, of the wrong type, out of range
    REFUSED = "refused"  # the grading proxy's limits
    FAILED = "failed"  # the call was made and the kernel refused it (e.g. EADDRINUSE)


class AppError(Exception):
    """The application refused a call, or the call was malformed; the message says why."""

    def __init__(self, reply: Error) -> None:
        super().__init__(reply.error)
        self.reply = reply


# -- arguments -------------------------------------------------------------------------------------
class Kind(enum.Enum):
    """What an argument's value may be."""

    COUNT = "count"  # an integer (not a bool)
    SECONDS = "seconds"  # an integer or a float; kept as a float
    TEXT = "text"
    ADDRESS = "address"  # an IPv4 address in dotted quads (never a name: nothing is resolved)
    FLAG = "flag"
    OPTION = "option"  # an integer, or a pair of integers (SO_LINGER's [on, seconds])

    @property
    def shown(self) -> str:
        """How a message names what the value should have been."""
        names = {Kind.TEXT: "text", Kind.ADDRESS: "an IPv4 address", Kind.FLAG: "true or false"}
        return names.get(self, "a number")


class ArgProblem(enum.Enum):
    """What is wrong with an argument's value: its type, its range, or not one of the choices."""

    TYPE = "type"
    RANGE = "range"
    CHOICE = "choice"


@dataclass(frozen=True)
class Arg:
    """One argument of a call: its checks, and who may set it."""

    kind: Kind
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    example: str = ""  # as a scenario writes it, e.g. "port = 8080" (for hints)
    scenario: str | None = None  # its key in a scenario's app step; None: the runner fills it
    solutions: bool = False  # a graded solution may set it (through the proxy)
    cap: float | None = None  # a graded solution's value is lowered to this

    def problem(self, value: object) -> ArgProblem | None:
        """What is wrong with `value` for this argument, if anything (nan and inf are out of range)."""
        if not self._typed(value):
            return ArgProblem.TYPE
        if isinstance(value, str):
            return ArgProblem.CHOICE if self.choices and value not in self.choices else None
        if isinstance(value, bool):
            return None
        items = value if isinstance(value, (list, tuple)) else (value,)
        return None if all(self._within(v) for v in items) else ArgProblem.RANGE

    def _within(self, v: Any) -> bool:
        return (self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi)

    def _typed(self, value: object) -> bool:
        if self.kind is Kind.FLAG:
            return isinstance(value, bool)
        if self.kind is Kind.TEXT:
            return isinstance(value, str)
        if self.kind is Kind.ADDRESS:
            return isinstance(value, str) and _is_ipv4(value)
        if self.kind is Kind.OPTION and isinstance(value, (list, tuple)):
            return len(value) == 2 and all(_is_int(v) for v in value)
        if self.kind is Kind.SECONDS:
            return _is_int(value) or isinstance(value, float)
        return _is_int(value)

    def normal(self, value: Any) -> Any:
        """The value as a call keeps it: seconds as float, an option pair as a tuple."""
        if self.kind is Kind.SECONDS:
            return float(value)
        if self.kind is Kind.OPTION and isinstance(value, list):
            return tuple(value)
        return value

    def explain(self, name: str, value: object, problem: ArgProblem) -> str:
        """A message for the wire (a scenario's loader words its own, with line numbers)."""
        text = shown(value)
        if problem is ArgProblem.TYPE:
            return f"{name} = {text} is not {self.kind.shown}"
        if problem is ArgProblem.RANGE:
            return f"{name} = {text} is out of range: use {self.lo:g} to {self.hi:g}"
        return f"{name} = {text}: use {choice_list(self.choices)}"


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shown(value: object, limit: int = 40) -> str:
    """A value from a client, quoted for a message: at most `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def choice_list(choices: tuple[str, ...]) -> str:
    """'"rd", "wr" or "rdwr"'."""
    quoted = [f'"{c}"' for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


_NO_DEFAULT: Any = dataclasses.MISSING


def arg(kind: Kind, default: Any = _NO_DEFAULT, **spec: Any) -> Any:
    """A call's argument: `default` omitted makes it required."""
    return field(default=default, metadata={"arg": Arg(kind, **spec)})


def socket_id() -> Any:
    """The id of one of the application's sockets (the reply to listen, accept or connect)."""
    return arg(Kind.COUNT, lo=1, hi=_C_INT, solutions=True)


def args_of(cls: type[Call[Any]]) -> dict[str, tuple[Arg, dataclasses.Field[Any]]]:
    """A call's arguments in order: name -> (spec, dataclass field)."""
    return {f.name: (f.metadata["arg"], f) for f in dataclasses.fields(cls)}


def required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING


# -- replies ---------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Reply:
    """A call's result. On the wire: {"ok": true, field: value...}; bytes travel as base64."""

    def to_wire(self) -> dict[str, Any]:
        return {f.name: _to_wire(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_wire(cls, data: object) -> Any:
        """The reply from its JSON form; ValueError if it is not one."""
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: not a JSON object")
        hints = _hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                if f.default is dataclasses.MISSING:
                    raise ValueError(f"{cls.__name__}: no {f.name}")
                continue
            values[f.name] = _from_wire(hints[f.name], data[f.name])
        return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """A reply class's field types (resolved once per class)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _to_wire(value: Any) -> Any:
    if isinstance(value, Reply):
        return value.to_wire()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return [_to_wire(v) for v in value]
    return value


def _from_wire(tp: Any, value: Any) -> Any:
    """`value` from JSON as type `tp`: scalars, bytes (base64), X | None, tuples, replies."""
    origin, params = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in params:
            return None
        (inner,) = [p for p in params if p is not type(None)]
        return _from_wire(inner, value)
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{shown(value)} is not a list")
        if len(params) == 2 and params[1] is Ellipsis:
            return tuple(_from_wire(params[0], v) for v in value)
        if len(params) != len(value):
            raise ValueError(f"{shown(value)} has not {len(params)} items")
        return tuple(_from_wire(p, v) for p, v in zip(params, value, strict=True))
    if isinstance(tp, type) and issubclass(tp, Reply):
        return tp.from_wire(value)
    if tp is bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise ValueError(f"{shown(value)} is not base64") from exc
    if tp is float and _is_int(value):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ValueError(f"{shown(value)} is not {tp.__name__}")
    return value


@dataclass(frozen=True, kw_only=True)
class Error(Reply):
    """The typed error reply: `{"ok": false, "error": ..., "reason": ...}`."""

    error: str
    reason: Reason = Reason.FAILED

    def to_wire(self) -> dict[str, Any]:
        return {"error": self.error, "reason": self.reason.value}

    @classmethod
    def from_wire(cls, data: object) -> Error:
        if not isinstance(data, dict):
            raise ValueError("Error: not a JSON object")
        try:
            reason = Reason(data.get("reason", Reason.FAILED.value))
        except ValueError:
            reason = Reason.FAILED
        return cls(error=str(data.get("error", "unknown error")), reason=reason)


@dataclass(frozen=True, kw_only=True)
class Pong(Reply):
    pid: int


@dataclass(frozen=True, kw_only=True)
class Listening(Reply):
    id: int


@dataclass(frozen=True, kw_only=True)
class NewConnection(Reply):
    id: int
    peer: Address


@dataclass(frozen=True, kw_only=True)
class Connecting(Reply):
    id: int
    local: Address


@dataclass(frozen=True, kw_only=True)
class Sent(Reply):
    sent: int


@dataclass(frozen=True, kw_only=True)
class Received(Reply):
    data: bytes  # b"" with eof: the peer ended the stream; b"" with timeout: nothing came
    eof: bool
    timeout: bool


@dataclass(frozen=True, kw_only=True)
class Done(Reply):
    pass


@dataclass(frozen=True, kw_only=True)
class SocketInfo(Reply):
    """One of the application's sockets. A listener has `auto_accept` and `accepted` (the peers it
    accepted); a connection has `accepted_from` (its listener's id, None if connect()ed)."""

    id: int
    kind: str  # "listener" or "connection"
    local: Address | None
    peer: Address | None
    auto_accept: bool | None = None
    accepted: tuple[Address, ...] | None = None
    accepted_from: int | None = None

    def to_wire(self) -> dict[str, Any]:
        out = super().to_wire()
        drop = ("accepted_from",) if self.kind == "listener" else ("auto_accept", "accepted")
        return {k: v for k, v in out.items() if k not in drop}


@dataclass(frozen=True, kw_only=True)
class Sockets(Reply):
    sockets: tuple[SocketInfo, ...]


@dataclass(frozen=True, kw_only=True)
class Peer(Reply):
    id: int
    peer: Address | None


@dataclass(frozen=True, kw_only=True)
class Connections(Reply):
    connections: tuple[Peer, ...]


@dataclass(frozen=True, kw_only=True)
class Event(Reply):
    """One call the application served that changes a socket, as its log keeps it. `time` is
    time.time() (the capture's clock: a segment's Seen.time): when the call began for a call that
    makes the kernel send (listen, connect, send, shutdown, close, abort, setsockopt), when it
    returned for one that takes something in (accept, recv)."""

    op: str  # the call's op; "accept" also for the auto-accept loop's (auto = True)
    time: float
    id: int  # the socket's id (0 when the call failed before it had one)
    local_port: int | None  # the kernel host's port of the socket
    peer_port: int | None  # the crafting host's port (None for a listener)
    ok: bool
    error: str = ""
    how: str = ""  # shutdown: "rd", "wr" or "rdwr"
    linger0: bool = False  # abort, or setsockopt SO_LINGER [1, 0]: a later close() sends RST
    nbytes: int = 0  # send: bytes sent; recv: bytes read
    eof: bool = False  # recv: the end of the stream was read
    backlog: int = 0  # listen
    auto: bool = False  # listen with auto_accept; an accept by that listener's own loop


@dataclass(frozen=True, kw_only=True)
class Log(Reply):
    events: tuple[Event, ...]
    dropped: int  # calls after the log was full (HISTORY_LIMIT), not kept


# -- calls -----------------------------------------------------------------------------------------
R = TypeVar("R", bound=Reply, covariant=True)  # Call[Listening] is a Call[Reply]
CALLS: dict[str, type[Call[Any]]] = {}  # op -> call class, in the order defined below


@dataclass(frozen=True, kw_only=True)
class Call(Generic[R]):
    """A call to the application. Subclasses name their `op`, their reply (the type parameter),
    whether a scenario file or a graded solution may make them, and their arguments (`arg`)."""

    op: ClassVar[str]
    reply: ClassVar[type[Reply]]
    in_scenarios: ClassVar[bool] = False  # an `app = "op"` step
    for_solutions: ClassVar[bool] = False  # through the grading proxy
    listener_too: ClassVar[bool] = False  # a scenario may aim it at the listener (target)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        base = next(b for b in cls.__dict__["__orig_bases__"] if typing.get_origin(b) is Call)
        cls.reply = typing.get_args(base)[0]
        CALLS[cls.op] = cls

    def __post_init__(self) -> None:
        for name, (spec, _) in args_of(type(self)).items():
            value = getattr(self, name)
            problem = spec.problem(value)
            if problem is not None:
                error = f"{self.op}: {spec.explain(name, value, problem)}"
                raise AppError(Error(error=error, reason=Reason.BAD_ARGUMENT))
            object.__setattr__(self, name, spec.normal(value))

    def to_wire(self) -> dict[str, Any]:
        """`{"op": ..., argument: value}`, leaving out arguments at their default."""
        out: dict[str, Any] = {"op": self.op}
        for name, (_, f) in args_of(type(self)).items():
            value = getattr(self, name)
            if required(f) or value != f.default:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, kw_only=True)
class Ping(Call[Pong]):
    """Is the application there? (its pid)"""

    op = "ping"


@dataclass(frozen=True, kw_only=True)
class Listen(Call[Listening]):
    """socket(), bind(addr, port), listen(backlog); with auto_accept, every completed connection
    is accepted at once, like a server's accept loop."""

    op = "listen"
    in_scenarios = for_solutions = True
    port: int = arg(
        Kind.COUNT, lo=1, hi=65535, example="port = 8080", scenario="port", solutions=True
    )
    backlog: int = arg(
        Kind.COUNT,
        defaults.BACKLOG,
        lo=0,
        hi=4096,
        example="backlog = 1",
        scenario="backlog",
        solutions=True,
    )
    addr: str = arg(Kind.ADDRESS, "0.0.0.0")
    auto_accept: bool = arg(Kind.FLAG, False)
    reuseaddr: bool = arg(Kind.FLAG, True)


_TIMEOUT = {"lo": 0, "hi": MAX_WAIT, "example": "timeout = 1.0", "scenario": "timeout"}


@dataclass(frozen=True, kw_only=True)
class Accept(Call[NewConnection]):
    """accept() one connection on a listener, waiting up to `timeout` seconds."""

    op = "accept"
    in_scenarios = True
    id: int = socket_id()
    timeout: float = arg(Kind.SECONDS, 1.0, **_TIMEOUT)


@dataclass(frozen=True, kw_only=True)
class Connect(Call[Connecting]):
    """A non-blocking connect() to addr:port (from `sport`, if given); the SYN is on its way."""

    op = "connect"
    in_scenarios = for_solutions = True
    addr: str = arg(Kind.ADDRESS, solutions=True)
    port: int = arg(Kind.COUNT, lo=1, hi=65535, solutions=True)
    sport: int = arg(Kind.COUNT, 0, lo=0, hi=65535)
    bind: str = arg(Kind.ADDRESS, "0.0.0.0")


@dataclass(frozen=True, kw_only=True)
class Send(Call[Sent]):
    """send() on a connection: `data` as UTF-8, or base64-decoded."""

    op = "send"
    in_scenarios = for_solutions = True
    id: int = socket_id()
    data: str = arg(Kind.TEXT, example='data = "hello"', scenario="data", solutions=True)
    encoding: str = arg(Kind.TEXT, "utf-8", choices=("utf-8", "base64"))


@dataclass(frozen=True, kw_only=True)
class Recv(Call[Received]):
    """recv() at most `max` bytes, waiting up to `timeout` seconds for something to read."""

    op = "recv"
    in_scenarios = for_solutions = True
    id: int = socket_id()
    max: int = arg(Kind.COUNT, 65536, lo=0, hi=1 << 20, example="bytes = 100", scenario="bytes")
    timeout: float = arg(Kind.SECONDS, 1.0, **_TIMEOUT, solutions=True, cap=2.0)


@dataclass(frozen=True, kw_only=True)
class Shutdown(Call[Done]):
    """shutdown(how): "wr" sends a FIN."""

    op = "shutdown"
    in_scenarios = for_solutions = True
    id: int = socket_id()
    how: str = arg(
        Kind.TEXT,
        "wr",
        choices=("rd", "wr", "rdwr"),
        example='how = "wr"',
        scenario="how",
        solutions=True,
    )


@dataclass(frozen=True, kw_only=True)
class Close(Call[Done]):
    """close(): with unread data, the kernel sends RST instead of FIN."""

    op = "close"
    in_scenarios = for_solutions = listener_too = True
    id: int = socket_id()


@dataclass(frozen=True, kw_only=True)
class Abort(Call[Done]):
    """close() with SO_LINGER 0: the kernel sends RST."""

    op = "abort"
    in_scenarios = for_solutions = True
    id: int = socket_id()


@dataclass(frozen=True, kw_only=True)
class SetSockOpt(Call[Done]):
    """setsockopt(name, value): an integer, or SO_LINGER's pair [on, seconds]."""

    op = "setsockopt"
    in_scenarios = listener_too = True
    id: int = socket_id()
    name: str = arg(
        Kind.TEXT, choices=SOCKET_OPTIONS, example='name = "TCP_NODELAY"', scenario="name"
    )
    value: int | tuple[int, int] = arg(
        Kind.OPTION, lo=0, hi=_C_INT, example="value = 1", scenario="value"
    )


@dataclass(frozen=True, kw_only=True)
class ListSockets(Call[Sockets]):
    """Every socket the application holds (connections the kernel has closed are forgotten)."""

    op = "list"
    for_solutions = True


@dataclass(frozen=True, kw_only=True)
class ListAccepted(Call[Connections]):
    """The open connections accepted on listeners of `port` (taking in what they completed)."""

    op = "accepted"
    for_solutions = True
    port: int = arg(Kind.COUNT, lo=1, hi=65535, solutions=True)


@dataclass(frozen=True, kw_only=True)
class History(Call[Log]):
    """The application's log of the calls it served that change a socket, oldest first (at most
    HISTORY_LIMIT). Never offered to solutions: only the checker, on the control socket, reads it."""

    op = "history"


# -- the wire --------------------------------------------------------------------------------------
def parse(line: bytes | str) -> object | Error:
    """A line's JSON value, or an Error (not JSON, not UTF-8, nested too deeply, a huge number)."""
    try:
        data: object = json.loads(line)
    except RecursionError:
        return Error(error="a call nested too deeply", reason=Reason.MALFORMED)
    except ValueError as exc:  # also UnicodeDecodeError and int digits limits
        return Error(error=f"not a JSON line: {str(exc)[:80]}", reason=Reason.MALFORMED)
    return data


def decode_call(
    data: object, offered: dict[str, type[Call[Any]]] | None = None
) -> Call[Any] | Error:
    """The call a parsed JSON value asks for, or the Error to reply with (never raises).
    `offered` limits the calls accepted (default: all of them)."""
    if not isinstance(data, dict):
        return Error(error="a call is a JSON object", reason=Reason.MALFORMED)
    op = data.get("op")
    calls = CALLS if offered is None else offered
    if not isinstance(op, str) or op not in calls:
        return Error(error=f"unknown call {shown(op)}", reason=Reason.UNKNOWN_CALL)
    cls = calls[op]
    spec = args_of(cls)
    given = {k: v for k, v in data.items() if k != "op"}
    unknown = sorted(k for k in given if k not in spec)
    missing = [k for k, (_, f) in spec.items() if required(f) and k not in given]
    if unknown or missing:
        what = f"unknown arguments {unknown}" if unknown else f"missing argument {missing[0]!r}"
        return Error(error=f"{op}: {what}", reason=Reason.BAD_ARGUMENT)
    try:
        return cls(**given)
    except AppError as exc:
        return exc.reply


def read_call(line: bytes | str) -> Call[Any] | Error:
    """One line from a client: the call, or the Error to reply with (never raises)."""
    data = parse(line)
    return data if isinstance(data, Error) else decode_call(data)


def encode_call(call: Call[Any]) -> bytes:
    return json.dumps(call.to_wire()).encode() + b"\n"


def encode_reply(reply: Reply) -> bytes:
    """One reply line; nan and inf never occur in replies, so the line is strict JSON."""
    ok = not isinstance(reply, Error)
    return json.dumps({"ok": ok, **reply.to_wire()}).encode() + b"\n"


def decode_reply(call: Call[R], line: bytes) -> R | Error:
    """The reply to `call` from its line; ValueError if the line is not a reply to it."""
    data = parse(line)
    if isinstance(data, Error):
        raise ValueError(data.error)
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        raise ValueError("a reply is a JSON object with ok = true or false")
    if not data["ok"]:
        return Error.from_wire(data)
    body = {k: v for k, v in data.items() if k != "ok"}
    try:
        reply: R = type(call).reply.from_wire(body)
    except (TypeError, ValueError) as exc:  # TypeError: a field the reply does not have
        raise ValueError(f"not a reply to {call.op}: {exc}") from None
    return reply
