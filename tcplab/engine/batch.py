"""Many scenarios, `jobs` at a time, as a pipeline: testbeds built ahead, removed behind.

Theory of operation. A scenario's time is mostly waiting: for its testbed to be built (the kernel-side
application's start above all), for the kernel, for its own silences. So while `jobs` scenarios run,
the testbeds of the next `jobs` are built, and a used testbed is removed by another thread: the next
scenario starts at once. Every scenario still gets a testbed of its own, built for it and never used
before (built exactly as tcplab.netns.fresh builds one, only earlier: its sysctls and link settings
are applied when its scenario starts, as before). The longest scenarios (their own sleeps and
silences) start first, so the last one to finish is a short one; results keep the order given.

Whatever ends the batch (its end, an error, Ctrl-C), `close()` cancels the builds not started, waits
for those under way, and removes every testbed built and not yet removed.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from tcplab import defaults
from tcplab.engine.scenario import Scenario, SilenceStep, SleepStep
from tcplab.netns.fresh import unique_names
from tcplab.netns.record import TestbedRecord, TestbedSpec
from tcplab.netns.topology import setup, teardown


def own_waits(scenario: Scenario) -> float:
    """The seconds a scenario asks to wait (its sleeps and silences): its length, roughly."""
    return sum(s.seconds for s in scenario.steps if isinstance(s, (SleepStep, SilenceStep)))


def longest_first(scenarios: list[Scenario]) -> list[int]:
    """The order to start them in: the longest first (ties in the order given)."""
    return sorted(range(len(scenarios)), key=lambda i: -own_waits(scenarios[i]))


def build(port: int) -> TestbedRecord:
    """A fresh ephemeral testbed for `tcplab run` (tcplab.netns.fresh's, without the removal)."""
    crafting, kernel = unique_names(defaults.RUN_PREFIX)
    spec = TestbedSpec(crafting=crafting, kernel=kernel, port=port, listen=False)
    return setup(spec, ephemeral=True)[0]


class Testbeds:
    """Testbeds built ahead (`ahead` at a time) for the scenarios in `order`, removed behind."""

    def __init__(self, ports: list[int], order: list[int], ahead: int) -> None:
        self.ports = ports
        self.order = order
        self.ahead = ahead
        self._builder = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="build")
        self._reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remove")
        self._built: dict[int, Future[TestbedRecord]] = {}
        self._taken: set[int] = set()
        self._lock = threading.Lock()
        self._closed = False

    def _want(self, index: int) -> Future[TestbedRecord] | None:
        with self._lock:
            if index not in self._built and not self._closed:
                self._built[index] = self._builder.submit(build, self.ports[index])
            return self._built.get(index)

    def take(self, position: int) -> TestbedRecord:
        """The testbed for the scenario `position`-th in `order` (built now if it was not yet);
        the next `ahead` are started meanwhile."""
        index = self.order[position]
        future = self._want(index)
        for later in self.order[position + 1 : position + 1 + self.ahead]:
            self._want(later)
        if future is None:
            raise KeyboardInterrupt  # closed: the batch is being stopped
        with self._lock:
            self._taken.add(index)
        return future.result()

    def remove(self, rec: TestbedRecord) -> Future[list[str]]:
        """Remove a used testbed in the background; the future holds teardown's answer."""
        return self._reaper.submit(teardown, rec)

    def close(self) -> None:
        """Cancel the builds not started, wait for the rest, remove every testbed not taken;
        wait for every removal."""
        with self._lock:
            self._closed = True
        self._builder.shutdown(wait=True, cancel_futures=True)
        for index, future in self._built.items():
            if index in self._taken or future.cancelled() or future.exception() is not None:
                continue
            self.remove(future.result())
        self._reaper.shutdown(wait=True)
