"""A connection tcplab left open (`tcplab handshake --keep`): what it knows of its numbers.

Theory of operation: the handshake records the crafting side's ISN and next numbers once it has sent
the ACK; each `tcplab send` on that connection reads them, so the model can predict exact numbers (a
challenge ACK's seq and ack, whether a RST is at rcv_nxt), and writes them back advanced. The numbers
are the crafting side's own, as RFC 9293 §3.3.1 names them for the sender of the segments: the
kernel's snd_nxt is our rcv_nxt, and its rcv_nxt our snd_nxt. On disk the record is a JSON object of
these five integers; `from_json` reads one back, or gives None for anything else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class KeptConnection:
    iss: int  # our ISN (the crafting side's)
    kisn: int  # the kernel's ISN
    snd_nxt: int  # the next sequence number we send
    rcv_nxt: int  # the next sequence number we expect from the kernel
    window: int  # the window of the kernel's SYN+ACK

    @classmethod
    def from_json(cls, data: object) -> KeptConnection | None:
        """The record in a JSON object of five integers, None when it is not one."""
        if not isinstance(data, dict):
            return None
        values: list[int] = []
        for f in fields(cls):
            value = data.get(f.name)
            if type(value) is not int or not 0 <= value < 1 << 32:
                return None
            values.append(value)
        return cls(*values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
