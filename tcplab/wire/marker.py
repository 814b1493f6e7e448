"""Markers: frames that prove every frame sent earlier on a CPU has been through the receiver's stack.

A frame sent on a veth is queued on the sending CPU's backlog and handed to the peer's stack, in
order, by that CPU's softirq (no RPS on a testbed's veth). A marker sent from each CPU in turn, and
seen by a capture on the other end, therefore means that every frame any program sent before it
has been received, and that whatever the kernel answered at once has been sent and captured.

Markers carry an ethertype of the IEEE's local experimental range (0x88B5), which no host's stack
handles: the kernel host drops them unseen, and the testbed's capture (IPv4 TCP only) never shows them.
"""

from __future__ import annotations

import os
import select
import socket
import time

from tcplab.wire.capture import ETH_P_ALL, _attach

ETHERTYPE = 0x88B5
_LD_H_ABS, _JEQ_K, _RET_K = 0x28, 0x15, 0x06


class Markers:
    """A capture of markers on `ifname`, opened in the current network namespace."""

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        _attach(
            self.sock,
            [
                (_LD_H_ABS, 0, 0, 12),  # ethertype
                (_JEQ_K, 0, 1, ETHERTYPE),
                (_RET_K, 0, 0, 0x40000),
                (_RET_K, 0, 0, 0),
            ],
        )
        try:
            self.sock.bind((ifname, ETH_P_ALL))
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.nonce = os.urandom(8)

    def frame(self, src_mac: str, dst_mac: str, cpu: int) -> bytes:
        """The marker for `cpu`: Ethernet to `dst_mac`, padded to the minimum frame size."""
        head = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
        body = self.nonce + cpu.to_bytes(4, "big")
        return head + ETHERTYPE.to_bytes(2, "big") + body.ljust(46, b"\0")

    def wait(self, cpu: int, timeout: float) -> bool:
        """Whether the marker for `cpu` arrived within `timeout` s."""
        want = self.nonce + cpu.to_bytes(4, "big")
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = self.sock.recv(128)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                select.select([self.sock], [], [], left)
                continue
            if data[14 : 14 + len(want)] == want:
                return True

    def close(self) -> None:
        self.sock.close()
