"""Sequence numbers as a lab's feedback shows them, and the student's usual confusions about them.

Every number a student reads is relative to the right ISN and signed: "your ISN+1", "the kernel's
ISN-1", never an unsigned wrap-around ("ISN + 4294967295") or "+ -". What the kernel expected comes
from tcplab's model (the TCB when the segment arrived, tcplab.model.endpoint.Before); this module
only compares the student's number with it and names the confusion it recognises:

- a relative number (as Wireshark shows it) used as an absolute one;
- seq and ack swapped;
- a number counted from the wrong side's ISN;
- a SYN or FIN not counted (one short), or a bare ACK counted (one too many);
- data not counted;
- 0, a placeholder left as it was.

Pure: no session, no clock; unit-tested on numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tcplab.i18n import N_, _
from tcplab.model.seqnum import MOD
from tcplab.model.seqnum import signed as _signed

NEAR = 1 << 20  # a number within this of an ISN is read as counted from it

# whose ISN a relative number counts from, as `rel_text`'s `who` names it
_WHOSE = {
    "your": N_("your ISN{offset}"),
    "the kernel's": N_("the kernel's ISN{offset}"),
    "its": N_("its ISN{offset}"),
}


def signed(n: int) -> str:
    """A relative number with its sign: '+1', '-999', '+0' (n taken mod 2**32, as a difference)."""
    n = (n + (1 << 31)) % MOD - (1 << 31)
    return f"+{n}" if n >= 0 else str(n)


def rel_text(value: int, base: int | None, who: str = "") -> str:
    """'your ISN+1' for value = base + 1 (who = "your", "the kernel's" or "its", translated); the
    absolute value when base is unknown or the value is nowhere near it (then it was not counted
    from that ISN), and 0 as 0 (a placeholder left from a starter, not "ISN-1000")."""
    if base is None or abs(_signed(value, base)) > NEAR or (value == 0 and base != 0):
        return str(value)
    offset = signed(_signed(value, base))
    if who in _WHOSE:
        return _(_WHOSE[who]).format(offset=offset)
    prefix = f"{who} " if who else ""
    return f"{prefix}ISN{offset}"


class Field(str, Enum):
    SEQ = "seq"
    ACK = "ack"


@dataclass(frozen=True)
class Numbers:
    """What a diagnosis needs about one crafted segment, all absolute: its own seq and ack, what the
    kernel expected of each (its rcv_nxt and snd_nxt when the segment arrived), both ISNs, and what
    came before on each side (flags letters and payload length of the previous segment)."""

    seq: int
    ack: int
    want_seq: int | None  # the kernel's rcv_nxt
    want_ack: int | None  # the kernel's snd_nxt
    iss: int | None  # the student's ISN
    irs: int | None  # the kernel's ISN
    mine_before: tuple[str, int] | None = None  # the student's previous segment: (flags, length)
    theirs_before: tuple[str, int] | None = None  # the kernel's last segment before it


def diagnose(n: Numbers, field: Field) -> str | None:
    """None when `field` is what the kernel expected (or it cannot be judged); else one sentence:
    the number, what the kernel expected, both relative and signed, and the confusion seen."""
    if field is Field.SEQ:
        got, want, base, other = n.seq, n.want_seq, n.iss, n.irs
        whose = "your"
    else:
        got, want, base, other = n.ack, n.want_ack, n.irs, n.iss
        whose = "the kernel's"
    if want is None or got == want:
        return None
    said = 0 if got == 0 else rel_text(got, base, whose)
    expected = rel_text(want, base, "its" if field is Field.ACK else "your")
    if base is not None and abs(_signed(got, base)) > NEAR:
        expected += f" ({want})"
    off = _signed(got, want)
    reason = _confusion(n, field, got, want, base, other, off)
    numbers = {"field": field.value, "got": said, "want": expected}
    if reason:
        return _("your {field} was {got}, the kernel expected {want}: {reason}").format(
            reason=reason, **numbers
        )
    return _("your {field} was {got}, the kernel expected {want} ({off})").format(
        off=signed(off), **numbers
    )


def _confusion(
    n: Numbers,
    field: Field,
    got: int,
    want: int,
    base: int | None,
    other: int | None,
    off: int,
) -> str:
    if got == 0 and base:
        return _("0 is a placeholder (a TODO left as it was), not a number counted from an ISN")
    if base is not None and base != 0 and got == (want - base) % MOD:
        return _(
            "{number} is the relative number (as Wireshark shows it); on the wire numbers are absolute"
        ).format(number=got)
    swapped = n.want_ack if field is Field.SEQ else n.want_seq
    mine = n.ack if field is Field.SEQ else n.seq
    if swapped is not None and got == swapped and mine == want:
        return _("seq and ack are swapped")
    far = base is None or abs(_signed(got, base)) > NEAR
    if other is not None and far and abs(_signed(got, other)) <= NEAR:
        if field is Field.ACK:
            return _("it counts from your own ISN; an ack counts the kernel's numbers")
        return _("it counts from the kernel's ISN; a seq counts your own numbers")
    before = n.theirs_before if field is Field.ACK else n.mine_before
    if off == -1 and before is not None and ("S" in before[0] or "F" in before[0]):
        return _one_short(field, "SYN" if "S" in before[0] else "FIN")
    bare = before is not None and before[1] == 0 and not set(before[0]) & {"S", "F"}
    if off == 1 and field is Field.SEQ and bare:
        return _("one too many: a bare ACK (no data, SYN or FIN) uses no sequence number")
    if before is not None and before[1] and off == -before[1]:
        if field is Field.ACK:
            return _("its {n} bytes of data were not counted").format(n=before[1])
        return _("your {n} bytes of data were not counted").format(n=before[1])
    return ""


def _one_short(field: Field, flag: str) -> str:
    """One short: the other side's (an ack) or the student's own (a seq) SYN or FIN not counted."""
    if field is Field.ACK:
        return _("one short: its {flag} occupies one sequence number").format(flag=flag)
    return _("one short: your {flag} occupies one sequence number").format(flag=flag)
