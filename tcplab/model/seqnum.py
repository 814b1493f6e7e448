"""Sequence-number arithmetic modulo 2**32 (RFC 9293 §3.4).

Comparisons are only meaningful for numbers less than 2**31 apart, exactly as in the kernel's
before()/after() (include/net/tcp.h).
"""

from __future__ import annotations

MOD = 1 << 32
HALF = 1 << 31


def seq_add(a: int, n: int) -> int:
    """a + n modulo 2**32."""
    return (a + n) % MOD


def seq_sub(a: int, b: int) -> int:
    """The distance from b to a, as a signed number in [-2**31, 2**31)."""
    d = (a - b) % MOD
    return d - MOD if d >= HALF else d


def seq_lt(a: int, b: int) -> bool:
    """a comes before b (the kernel's before(a, b))."""
    return seq_sub(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    return seq_sub(a, b) <= 0


def seq_gt(a: int, b: int) -> bool:
    return seq_sub(a, b) > 0


def seq_ge(a: int, b: int) -> bool:
    return seq_sub(a, b) >= 0


def seq_in_window(seq: int, left: int, size: int) -> bool:
    """left <= seq < left + size, modulo 2**32 (an empty window holds nothing)."""
    return 0 <= (seq - left) % MOD < size


def relative(value: int, base: int) -> int:
    """value relative to base (an ISN), as tcpdump prints it."""
    return (value - base) % MOD


def signed(value: int, base: int) -> int:
    """value relative to base, signed: -1 for one below the base, never 4294967295."""
    return (value - base + (1 << 31)) % MOD - (1 << 31)
