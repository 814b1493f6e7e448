"""Checks for lab 3 (active close from your side, and half-close), on what the kernel host saw."""

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


def _your_fin(obs: Observation) -> tuple[ObservedConn | None, Segment | None]:
    conn = _conn(obs)
    if conn is None:
        return None, None
    fins = [s for s in conn.crafted() if Flags.FIN in s.flags and Flags.SYN not in s.flags]
    return conn, (fins[0] if fins else None)


def _after(conn: ObservedConn, seg: Segment, from_kernel: bool) -> list[Segment]:
    """The segments (of one side) sent after `seg`, in order."""
    out: list[Segment] = []
    found = False
    for seen in conn.segments:
        if seen.segment == seg and not found:
            found = True
        elif found and seen.from_kernel == from_kernel:
            out.append(seen.segment)
    return out


def _kernel_data_after_fin(obs: Observation) -> tuple[ObservedConn | None, Segment | None]:
    conn, fin = _your_fin(obs)
    if fin is None:
        return conn, None
    data = [s for s in _after(conn, fin, from_kernel=True) if s.payload]
    return conn, (data[0] if data else None)


def _kernel_fin(conn: ObservedConn) -> Segment | None:
    fins = [s for s in conn.kernel() if Flags.FIN in s.flags and Flags.RST not in s.flags]
    return fins[0] if fins else None


@checks.add(
    "your FIN carries the ACK flag",
    1,
    hint="send flags 'FA': once a connection is synchronized, the kernel drops any segment "
    "without ACK, a FIN too",
    why="every segment after the handshake acknowledges something (RFC 9293 §3.10.7.4)",
)
def fin_flags(obs: Observation) -> tuple[bool, str]:
    _, fin = _your_fin(obs)
    if fin is None:
        return False, "you sent no FIN"
    return Flags.ACK in fin.flags, f"flags {fin.flags.letters}"


@checks.add(
    "your FIN's seq is your ISN + 1",
    2,
    hint="nothing has used a sequence number since your SYN (ISN): the FIN's seq is ISN + 1, "
    "its ack the kernel's ISN + 1",
    why="the FIN takes the next unused sequence number, and itself occupies one",
)
def fin_seq(obs: Observation) -> tuple[bool, str]:
    conn, fin = _your_fin(obs)
    if fin is None:
        return False, "you sent no FIN"
    rel = conn.rel_seq(fin, from_kernel=False)
    return rel == 1, f"your FIN's seq was your {_isn(rel)}"


@checks.add(
    "the kernel ACKs your FIN (ack = your ISN + 2) and goes to CLOSE_WAIT",
    2,
    hint="a FIN is accepted only with the ACK flag and seq = the next byte the kernel expects "
    "(ISN + 1 here); pause (time.sleep(0.05)) after it so the kernel's table can be read",
    why="the FIN occupies one sequence number, so the kernel acknowledges ISN + 2; "
    "its application has been told end-of-stream and the kernel waits for it to close()",
)
def close_wait(obs: Observation) -> tuple[bool, str]:
    conn, fin = _your_fin(obs)
    if conn is None:
        return False, "no connection"
    seen = conn.states()
    detail = " -> ".join(seen) or "no socket"
    # what the kernel must do with your FIN is tcplab's model's: its ACK, and CLOSE_WAIT
    acked, said = conn.verdict(fin, "fin") if fin is not None else (False, "")
    if not acked:
        return False, detail + "; no ACK of your FIN" + (f" ({said})" if fin is not None else "")
    if State.CLOSE_WAIT in seen or State.LAST_ACK in seen:
        return True, detail
    # CLOSE_WAIT may end before the socket table is read: the capture shows it through the model
    ok = State.CLOSE_WAIT in conn.model_states()
    return ok, detail + (" (CLOSE_WAIT seen on the wire)" if ok else "")


@checks.add(
    "you ACK the data the kernel sends after your FIN",
    2,
    hint="your FIN closed only your direction: when lab.app_send() data arrives, acknowledge it "
    "(ack = its seq + its length) before you call lab.app_close()",
    why="half-close: the kernel in CLOSE_WAIT may still send, and you in FIN_WAIT_2 still receive",
)
def data_acked(obs: Observation) -> tuple[bool, str]:
    conn, data = _kernel_data_after_fin(obs)
    if data is None:
        return False, "the kernel sent no data after your FIN (call lab.app_send())"
    end = data.end_seq
    mine = [s for s in _after(conn, data, from_kernel=False) if Flags.ACK in s.flags]
    ok = any(s.ack == end and Flags.RST not in s.flags for s in mine)
    return ok, f"{len(data.payload)} bytes from the kernel; your acks: " + (
        ", ".join(f"its {_isn(conn.rel_ack(s, from_kernel=False))}" for s in mine) or "none"
    )


@checks.add(
    "your segments after your FIN have seq = your ISN + 2",
    2,
    hint="your FIN used sequence number ISN + 1, so everything you send after it starts at "
    "ISN + 2 (a segment below that is old to the kernel and is dropped)",
    why="a FIN occupies one sequence number, exactly like a SYN",
)
def seq_after_fin(obs: Observation) -> tuple[bool, str]:
    conn, fin = _your_fin(obs)
    if fin is None:
        return False, "you sent no FIN"
    later = [s for s in _after(conn, fin, from_kernel=False) if Flags.FIN not in s.flags]
    if not later:
        return False, "you sent nothing after your FIN"
    rels = sorted({conn.rel_seq(s, from_kernel=False) for s in later})
    return rels == [2], "your seqs: " + ", ".join(map(_isn, rels))


@checks.add(
    "the kernel goes CLOSE_WAIT -> LAST_ACK when its application closes",
    1,
    hint="after the data, call lab.app_close(): the kernel sends its FIN and waits in LAST_ACK "
    "for your ACK",
    why="the application's close() sends the second FIN; the kernel waits for its acknowledgment",
)
def last_ack(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    if conn is None:
        return False, "no connection"
    seen = conn.states()
    if State.LAST_ACK in seen:
        return True, " -> ".join(seen)
    # LAST_ACK may end before the socket table is read: the FIN that tcplab's model predicts for
    # close() in CLOSE_WAIT, and the kernel sent, shows it on the wire
    ok = State.CLOSE_WAIT in seen and State.LAST_ACK in conn.model_states()
    return ok, " -> ".join(seen) + (" (its FIN from CLOSE_WAIT seen on the wire)" if ok else "")


@checks.add(
    "your last ACK acknowledges the kernel's FIN: ack = its seq + 1",
    2,
    hint="the kernel's FIN occupies one sequence number: ack = the FIN's seq + 1",
    why="only an ACK of its FIN lets the kernel leave LAST_ACK",
)
def final_ack(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    fin = _kernel_fin(conn) if conn else None
    if fin is None:
        return False, "the kernel sent no FIN"
    mine = [s for s in _after(conn, fin, from_kernel=False) if s.flags == Flags.ACK]
    if not mine:
        return False, "no ACK from you after the kernel's FIN"
    want = fin.end_seq  # the FIN's own number + 1 (after any data it carries)
    ok = any(s.ack == want for s in mine)
    rels = ", ".join(f"its {_isn(conn.rel_ack(s, from_kernel=False))}" for s in mine)
    return ok, f"the FIN was its {_isn(conn.rel_seq(fin, from_kernel=True))}; your acks: {rels}"


@checks.add(
    "the kernel's socket is gone at the end, with no TIME_WAIT",
    1,
    hint="the kernel leaves LAST_ACK only on an acceptable ACK of its FIN (right seq, right ack)",
    why="the side that closes second goes straight to CLOSED; TIME_WAIT is yours, not its",
)
def gone(obs: Observation) -> tuple[bool, str]:
    conn = _conn(obs)
    if conn is None or not conn.samples:
        return False, "no socket"
    seen = conn.states()
    return seen[-1] is State.CLOSED and State.TIME_WAIT not in seen, " -> ".join(seen)


@checks.add(
    "you never reset the connection",
    1,
    hint="do not send R: a RST aborts the connection; a close is FIN and ACK",
    why="an orderly close uses FIN and ACK only",
)
def no_reset(obs: Observation) -> bool:
    return bool(obs.conns) and not any(Flags.RST in s.flags for s in obs.crafted())
