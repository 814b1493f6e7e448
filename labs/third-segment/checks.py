"""Checks for lab 2 (data on the third segment; what uses sequence numbers), on what the kernel
host saw."""

from tcplab.exercise.kit import Checklist, Observation, ObservedConn
from tcplab.model.flags import Flags
from tcplab.model.segment import Segment
from tcplab.model.state import State

checks = Checklist()


def _isn(rel: int | None, whose: str = "ISN") -> str:
    """A relative sequence number as text, signed: 'ISN + 6', 'ISN - 1000'."""
    if rel is None:
        return "?"
    n = rel - (1 << 32) if rel >= 1 << 31 else rel
    return f"{whose} + {n}" if n >= 0 else f"{whose} - {-n}"


def _conn(obs: Observation) -> ObservedConn | None:
    conn = obs.conn(0)
    return conn if conn is not None and conn.iss is not None and conn.irs is not None else None


def _third(obs: Observation) -> tuple[ObservedConn | None, Segment | None]:
    """Your first segment after the kernel's SYN+ACK (the one that should complete the handshake)."""
    conn = _conn(obs)
    if conn is None:
        return None, None
    after = False
    for seen in conn.segments:
        if seen.from_kernel and seen.segment.flags == Flags.SYN | Flags.ACK:
            after = True
        elif after and not seen.from_kernel and Flags.SYN not in seen.segment.flags:
            return conn, seen.segment
    return conn, None


def _data(conn: ObservedConn) -> list[Segment]:
    """Your segments that carry data, in the order sent."""
    return [
        s
        for s in conn.crafted()
        if s.payload and Flags.SYN not in s.flags and Flags.RST not in s.flags
    ]


def _acked_by_model(conn: ObservedConn, data: Segment, want: int) -> bool:
    """Your bytes end at your ISN + `want` (all of them after your SYN: your own numbers), and
    tcplab's model predicts the kernel acknowledges up to that end, and the kernel did."""
    rec = conn.predicted(data)
    pattern = rec.prediction.pattern if rec is not None else None
    end = conn.rel_seq(data, from_kernel=False)
    if rec is None or pattern is None or end is None or not rec.agrees:
        return False
    return (end + len(data.payload)) % 2**32 == want and pattern.ack == data.end_seq


def _kernel_acks(conn: ObservedConn) -> list[int]:
    """The relative ack of every segment the kernel sent after its SYN+ACK."""
    return [
        conn.rel_ack(s, from_kernel=True)
        for s in conn.kernel()
        if Flags.ACK in s.flags and Flags.SYN not in s.flags and Flags.RST not in s.flags
    ]


@checks.add(
    "your third segment carries data",
    1,
    hint="complete the handshake with flags 'PA' and a payload: IP(...)/TCP(...)/b'hello'",
    why="RFC 9293 lets any segment with ACK carry data, the one that completes the handshake too",
)
def third_has_data(obs: Observation) -> tuple[bool, str]:
    _, third = _third(obs)
    if third is None:
        return False, "nothing from you after the SYN+ACK"
    return bool(third.payload), f"{len(third.payload)} bytes, flags {third.flags.letters}"


@checks.add(
    "your third segment acknowledges the kernel's ISN + 1",
    2,
    hint="ack = the SYN+ACK's seq + 1: the kernel's SYN occupies one sequence number",
    why="only an acceptable ack turns the kernel's half-open request into a connection",
)
def third_ack(obs: Observation) -> tuple[bool, str]:
    conn, third = _third(obs)
    if third is None or Flags.ACK not in third.flags:
        return False, "no ACK after the SYN+ACK"
    rel = conn.rel_ack(third, from_kernel=False)
    return rel == 1, f"your ack was the kernel's {_isn(rel)}"


@checks.add(
    "your third segment's seq is your ISN + 1",
    1,
    hint="your SYN used sequence number ISN, so your first byte of data is number ISN + 1",
    why="the SYN occupies one sequence number; data starts right after it",
)
def third_seq(obs: Observation) -> tuple[bool, str]:
    conn, third = _third(obs)
    if third is None:
        return False, "nothing from you after the SYN+ACK"
    rel = conn.rel_seq(third, from_kernel=False)
    return rel == 1, f"your seq was your {_isn(rel)}"


@checks.add(
    "the kernel acknowledged all of it: ack = your ISN + 1 + its length",
    2,
    hint="the kernel's ack counts the SYN and every byte: send your third segment with "
    "seq = ISN + 1, ack = the kernel's ISN + 1 and the data",
    why="an ACK number is the next byte expected: ISN + 1 (the SYN) + 5 for b'hello'",
)
def kernel_acked_first(obs: Observation) -> tuple[bool, str]:
    conn, third = _third(obs)
    if third is None or not third.payload:
        return False, "your third segment carried no data"
    want = 1 + len(third.payload)
    acks = _kernel_acks(conn)
    return (
        _acked_by_model(conn, third, want),
        f"the kernel's acks: {', '.join(map(_isn, acks)) or 'none'}; wanted ISN + {want}",
    )


@checks.add(
    "the kernel's socket goes SYN_RECEIVED -> ESTABLISHED and keeps your data",
    2,
    hint="the segment that acknowledges the SYN+ACK makes the connection ESTABLISHED, data or "
    "not; do not close or reset it afterwards",
    why="the data is queued for the application (lab.app_recv() reads it): nothing is lost",
)
def established(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    if conn is None or not conn.samples:
        return False, "no socket"
    seen = conn.states()
    half_open = State.SYN_RECEIVED in seen or bool(conn.kernel(Flags.SYN | Flags.ACK))
    acks = [a for a in _kernel_acks(conn) if a is not None]
    accepted = max(acks, default=1) - 1
    last = conn.samples[-1]
    detail = (
        f"{' -> '.join(seen)}; {accepted} bytes acknowledged: {last.rqueue} still queued, "
        f"{accepted - last.rqueue} read by the application"
    )
    ok = (
        half_open
        and last.state is State.ESTABLISHED
        and accepted > 0
        and 0 <= last.rqueue <= accepted
    )
    return ok, detail


@checks.add(
    "your bare ACK's seq is the next byte after your data",
    1,
    hint="after b'hello' at ISN + 1, your next sequence number is ISN + 6: send flags 'A', "
    "no payload, with that seq",
    why="the next segment you send starts at the next unused sequence number",
)
def bare_ack(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    data = _data(conn) if conn else []
    if not data:
        return False, "you sent no data"
    first = data[0]
    crafted = conn.crafted()
    later = crafted[crafted.index(first) + 1 :]
    bare = [s for s in later if s.flags == Flags.ACK and not s.payload]
    if not bare:
        return False, "no bare ACK (flags 'A', no data) after your first data"
    want = conn.rel_seq(first, from_kernel=False) + len(first.payload)
    rel = conn.rel_seq(bare[0], from_kernel=False)
    return rel == want, f"its seq was your {_isn(rel)}"


@checks.add(
    "your next data starts where the first ended: a bare ACK uses no sequence number",
    2,
    hint="SYN and FIN occupy one sequence number each, data one per byte, a bare ACK none: "
    "the second data segment has the same seq as the bare ACK before it",
    why="sequence numbers number the SYN, the bytes and the FIN, nothing else (RFC 9293 §3.4)",
)
def second_seq(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    data = _data(conn) if conn else []
    if len(data) < 2:
        return False, "you sent fewer than two data segments"
    want = 1 + len(data[0].payload)
    rel = conn.rel_seq(data[1], from_kernel=False)
    return rel == want, f"your second data segment's seq was your {_isn(rel)}, wanted ISN + {want}"


@checks.add(
    "the kernel acknowledged your second data too",
    1,
    hint="data that does not start at the kernel's next expected byte waits out of order and the "
    "kernel repeats its last ack: start the second segment right after the first",
    why="the kernel's ack moves on only when the bytes arrive in order",
)
def kernel_acked_second(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    data = _data(conn) if conn else []
    if len(data) < 2:
        return False, "you sent fewer than two data segments"
    want = 1 + len(data[0].payload) + len(data[1].payload)
    acks = _kernel_acks(conn)
    return (
        _acked_by_model(conn, data[1], want),
        f"the kernel's acks: {', '.join(map(_isn, acks)) or 'none'}; wanted ISN + {want}",
    )


@checks.add(
    "no RST either way",
    1,
    hint="a RST from the kernel means a segment of yours was unacceptable (often a wrong ack); "
    "never send R yourself in this lab",
    why="the connection stays open: data, then a bare ACK, then more data",
)
def no_reset(obs: Observation) -> tuple[bool, str]:
    if not obs.conns:
        return False, "no connection"
    mine = sum(Flags.RST in s.flags for s in obs.crafted())
    theirs = sum(Flags.RST in s.flags for s in obs.kernel())
    return mine == 0 and theirs == 0, f"{mine} RST from you, {theirs} from the kernel"
