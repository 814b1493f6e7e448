"""The driver of `tcplab watch`: a testbed's traffic and its kernel's states, as they happen.

It only observes, and opens what a lab check opens to observe a solution: the kernel host's
capture (tcplab.wire.capture, read in the caller's thread), the lab checker's sampler of the kernel
host's socket table (a thread), and the application's control socket (its log of calls). It sends
nothing. The sampler reads every millisecond while segments flow (each segment wakes it), so a
SYN_RECEIVED that lasts a round trip is caught, and every 50 ms once the link has been quiet for a
second: reading every millisecond all the time costs a sixth of a core (measured: 17 % at 1 ms,
0.9 % at 50 ms).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from tcplab.app.client import AppClient
from tcplab.app.protocol import History
from tcplab.engine.intake import Intake
from tcplab.errors import EnvironmentProblem, TcplabError
from tcplab.exercise.checker import SAMPLE_EVERY, Sampler
from tcplab.exercise.watch import Watched
from tcplab.i18n import _
from tcplab.netns import sysctl
from tcplab.netns.diag import SocketTable
from tcplab.netns.enter import inside
from tcplab.netns.record import IFNAME, TestbedRecord, TestbedSpec
from tcplab.wire.capture import Capture

QUIET_EVERY = 0.05  # s between socket table reads when no segment came for QUIET_AFTER
QUIET_AFTER = 1.0


class _Woken(Sampler):
    """The lab checker's sampler, woken by the capture: fast while segments flow, slow when quiet."""

    def __init__(self, spec: TestbedSpec, ports: set[int]) -> None:
        super().__init__(spec, ports)
        self.wake = threading.Event()
        self.fast_until = 0.0  # monotonic: read every SAMPLE_EVERY until then

    def busy(self) -> None:
        """A segment came: read fast from now until the link has been quiet for QUIET_AFTER."""
        self.fast_until = time.monotonic() + QUIET_AFTER
        self.wake.set()

    def run(self) -> None:
        try:
            with SocketTable(self.spec.kernel) as table:
                while not self.stop.is_set():
                    self._sample(table.rows())
                    if time.monotonic() < self.fast_until:
                        self.stop.wait(SAMPLE_EVERY)
                    else:
                        self.wake.wait(QUIET_EVERY)
                        self.wake.clear()
                self._sample(table.rows())
        except BaseException as exc:  # raised again by the driver, never lost
            self.error = exc


class Live:
    """Watching one testbed: `poll` reads the capture for a while, `watched` is all seen so far.
    A context manager: leaving it closes the capture and the app's socket and stops the sampler."""

    def __init__(self, rec: TestbedRecord, port: int) -> None:
        spec = self.spec = rec.spec
        self.watched = Watched(
            spec.kernel_addr,
            (f"{spec.crafting} {spec.crafting_addr}", f"{spec.kernel} {spec.kernel_addr}"),
            port,
            time.time(),
            sysctl.model_sysctls(spec.kernel),
        )
        self._intake = Intake(spec.kernel_addr)
        self._app: AppClient | None = None
        with inside(spec.kernel):
            self._capture = Capture(IFNAME, spec.crafting_addr, spec.kernel_addr)
        try:
            self._sampler = _Woken(spec, {port})
        except BaseException:
            self._capture.close()
            raise
        self._sampler.history = self.watched.samples  # the sampler fills what is watched
        self._sampler.listener = self.watched.listener
        try:
            if rec.app is not None:
                self._app = AppClient(rec.app.control)
            self._sampler.start()
        except BaseException:
            self.close()
            raise

    def poll(self, seconds: float) -> int:
        """Read the capture for `seconds`; how many segments came."""
        deadline = time.monotonic() + seconds
        got = 0
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self._capture.read(left)
            except OSError as exc:  # its interface went away (a teardown)
                raise self._gone(exc.strerror or str(exc)) from exc
            if frame is None:
                break
            self._sampler.busy()  # first: a SYN_RECEIVED may last no longer than decoding takes
            seen = self._intake.seen(frame)
            if seen is not None:
                self.watched.seen.append(seen)
                got += 1
        self._check()
        return got

    def version(self) -> tuple[int, int, int]:
        """Changes when something new was seen: a segment, a kernel state, the listener's queue."""
        w = self.watched
        states = sum(len(got) for got in list(w.samples.values()))
        return (len(w.seen), states, len(w.listener))

    def refresh(self) -> Watched:
        """All seen so far, with the application's log as it is now."""
        w = self.watched
        if self._app is not None:
            w.events = list(self._app.call(History()).events)
        samples = {key: list(got) for key, got in list(w.samples.items())}  # the sampler adds
        return replace(w, seen=list(w.seen), samples=samples, listener=list(w.listener))

    def _check(self) -> None:
        error = self._sampler.error
        if isinstance(error, TcplabError):
            raise error
        if error is not None:
            raise self._gone(str(error)) from error

    def _gone(self, why: str) -> EnvironmentProblem:
        return EnvironmentProblem(
            _("the testbed {crafting} ⇄ {kernel} broke while watching: {why}").format(
                crafting=self.spec.crafting, kernel=self.spec.kernel, why=why
            ),
            _("run 'sudo tcplab status' to see it, 'sudo tcplab setup' to make it again"),
        )

    def close(self) -> None:
        self._sampler.stop.set()
        self._sampler.wake.set()
        if self._sampler.is_alive():
            self._sampler.join()
        self._capture.close()
        if self._app is not None:
            self._app.close()

    def __enter__(self) -> Live:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
