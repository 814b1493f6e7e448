"""A session on one testbed: the sending socket in the crafting host, the capture and the socket table in
the kernel host, and a connection to the kernel-side application.

Everything the kernel host's interface carries between the two testbed addresses is recorded, in order, with
kernel timestamps: that record, not what the sending code believes it sent, is what the ladder shows and
what checks read.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from tcplab.app.client import AppClient
from tcplab.engine.intake import Intake
from tcplab.engine.seen import Seen
from tcplab.model.segment import Segment
from tcplab.model.state import State
from tcplab.netns.diag import SocketRow, SocketTable
from tcplab.netns.enter import inside
from tcplab.netns.record import (
    CRAFTING_MAC,
    IFNAME,
    KERNEL_MAC,
    TestbedRecord,
    TestbedSpec,
    find_record,
)
from tcplab.wire.capture import Capture, Frame, Sender
from tcplab.wire.packet import Endpoints, to_frame
from tcplab.wire.pcap import write_pcap


class Session:
    """A driver: the testbed's sockets and capture, and the record of what the link carried (`seen`)."""

    def __init__(self, spec: TestbedSpec) -> None:
        self.spec = spec
        self.record: TestbedRecord | None = find_record(spec.crafting)
        self.ends = Endpoints(spec.crafting_addr, spec.kernel_addr, CRAFTING_MAC, KERNEL_MAC)
        self.frames: list[Frame] = []
        self.seen: list[Seen] = []
        self._reported = 0  # how many of `seen` unreported() has handed out
        self._pending: list[Seen] = []
        self._ip_id = random.randrange(1, 0xFFFF)
        self._intake = Intake(spec.kernel_addr)
        self._table: SocketTable | None = None
        self._app: AppClient | None = None
        with inside(spec.kernel):
            self.capture = Capture(IFNAME, spec.crafting_addr, spec.kernel_addr)
        try:
            with inside(spec.crafting):
                self.sender = Sender(IFNAME)
        except BaseException:
            self.capture.close()
            raise

    # -- sending and receiving -------------------------------------------------------------------
    def send(self, seg: Segment, echo: bool = False, bad_checksum: bool = False) -> int:
        """Send a crafted segment from the crafting host; returns perf_counter_ns at the send.

        With `echo`, wait (briefly) until the kernel host's capture has seen it, so the record
        stays in order; kernel segments read meanwhile are kept for next_from_kernel."""
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        sent = self.sender.send(to_frame(seg, self.ends, self._ip_id, bad_checksum))
        if echo:
            deadline = time.monotonic() + 0.05
            while (left := deadline - time.monotonic()) > 0:
                got = self._read_one(left)
                if got is None or (not got.from_kernel and got.segment == seg):
                    break
                if got.from_kernel:
                    self._pending.append(got)
        return sent

    def _read_one(self, timeout: float) -> Seen | None:
        frame = self.capture.read(timeout)
        if frame is None:
            return None
        self.frames.append(frame)
        seen = self._intake.seen(frame)
        if seen is None:
            return self._read_one(0)
        self.seen.append(seen)
        return seen

    def next_from_kernel(
        self, timeout: float, match: Callable[[Segment], bool] | None = None
    ) -> Seen | None:
        """The next segment the kernel sends (that `match` accepts), within `timeout` seconds."""
        for i, seen in enumerate(self._pending):
            if match is None or match(seen.segment):
                return self._pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            got = self._read_one(max(0.0, deadline - time.monotonic()))
            if got is None:
                return None
            if not got.from_kernel:
                continue
            if match is None or match(got.segment):
                return got
            self._pending.append(got)

    def drain(self, quiet: float) -> list[Seen]:
        """Everything the kernel sends until it has been quiet for `quiet` seconds."""
        out = list(self._pending)
        self._pending.clear()
        while True:
            seen = self._read_one(quiet)
            if seen is None:
                return out
            if seen.from_kernel:
                out.append(seen)

    def unreported(self) -> list[Seen]:
        """The segments seen since the last call (each handed out once): what a report adds next."""
        out = self.seen[self._reported :]
        self._reported = len(self.seen)
        return out

    # -- the kernel host -------------------------------------------------------------------------
    @property
    def table(self) -> SocketTable:
        if self._table is None:
            self._table = SocketTable(self.spec.kernel)
        return self._table

    def connection(self, sport: int, port: int) -> SocketRow | None:
        """The kernel's socket for the connection from crafting-host port `sport` to `port`."""
        rows = self.table.find(port, self.spec.crafting_addr, sport)
        return rows[0] if rows else None

    def wait_state(self, sport: int, port: int, want: State, limit: float) -> SocketRow | None:
        """Poll the kernel's table until the connection (sport -> port) is in state `want`
        (LISTEN: the port's listener; CLOSED: no socket), or `limit` s pass.
        Returns what was last seen (None: no socket)."""
        deadline = time.monotonic() + limit
        while True:
            row = self.listener(port) if want is State.LISTEN else self.connection(sport, port)
            got = State.CLOSED if row is None else row.state
            if got is want or time.monotonic() >= deadline:
                return row
            time.sleep(0.002)

    def listener(self, port: int) -> SocketRow | None:
        rows = [r for r in self.table.find(port) if r.linux_state == 10]
        return rows[0] if rows else None

    @property
    def app(self) -> AppClient:
        if self._app is None:
            assert self.record is not None and self.record.app is not None
            self._app = AppClient(self.record.app.control)
        return self._app

    def free_port(self, port: int) -> int:
        """A crafting-host port with no connection to `port` in the kernel's table."""
        used = {r.dport for r in self.table.find(port)}
        while True:
            sport = random.randrange(32768, 61000)
            if sport not in used:
                return sport

    # -- records ---------------------------------------------------------------------------------
    def write_pcap(self, path: str) -> None:
        write_pcap(path, self.frames)

    def close(self) -> None:
        for res in (self.capture, self.sender, self._table, self._app):
            if res is not None:
                res.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
