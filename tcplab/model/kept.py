"""A connection tcplab left open (`tcplab handshake --keep`): what it knows of its numbers.

Theory of operation: the handshake saves the numbers of the model's endpoint for the kernel's side
once it has sent the ACK (`Endpoint.kept`); each `tcplab send` on that connection builds the endpoint
back from them (`Endpoint.from_kept`), so the model can predict exact numbers (a challenge ACK's seq
and ack, whether a RST is at rcv_nxt), and saves the endpoint's numbers after the exchange. The
numbers are the crafting side's own, as RFC 9293 §3.3.1 names them for the sender of the segments:
the kernel's snd_nxt is our rcv_nxt, and its rcv_nxt our snd_nxt. On disk the record is a JSON
object of these integers (a record without `wscale` has none); `from_json` reads one back, or gives
None for anything else.
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
    window: int  # the kernel's receive window (its SYN+ACK's, or the last it advertised, scaled)
    wscale: int = 0  # the kernel's window scale (its SYN+ACK's wscale option; 0 for none)

    @classmethod
    def from_json(cls, data: object) -> KeptConnection | None:
        """The record in a JSON object of five integers, None when it is not one."""
        if not isinstance(data, dict):
            return None
        values: list[int] = []
        for f in fields(cls):
            value = data.get(f.name, f.default)
            if type(value) is not int or not 0 <= value < 1 << 32:
                return None
            values.append(value)
        return cls(*values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
