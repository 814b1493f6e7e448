"""tcplab's defaults, in one place: the testbed a user builds without options, what the kernel-side
application and a crafted segment use unless told, and how the namespaces of a testbed made for one run
are named. Pure constants: importing this module does nothing else.

The model (tcplab.model) imports nothing of tcplab, so `Segment`'s own default window repeats
WINDOW; tests/unit/test_defaults.py holds the two equal.
"""

from __future__ import annotations

# ---- the testbed `tcplab setup` builds ------------------------------------------------------
CRAFTING = "ns1"  # the crafting host's namespace: the student's scapy, no sockets of its own
KERNEL = "ns2"  # the kernel host's namespace: Linux TCP and the application
SUBNET = "10.77.0.0/24"  # the link: .1 the crafting host, .2 the kernel host
APP_PORT = 7788  # where the kernel-side application listens
TARGET = f"{KERNEL}:{APP_PORT}"  # what `handshake` and `send` aim at

# ---- the application and crafted segments -----------------------------------------------------
BACKLOG = 128  # listen(2)'s backlog for the application's listeners
WINDOW = 64240  # a crafted segment's window: Linux's own first window with a 1460-byte MSS
REPLY_WAIT = 1.0  # seconds `handshake` and `send` wait for the kernel's answer
TIME_LIMIT = 30.0  # seconds a lab's solution may run, unless its lab.toml says otherwise

# ---- the namespaces of a testbed made for one run (PREFIX + 8 hex digits + "-c" or "-k") -------
# The name says which command made the testbed, for a person reading `ip netns` or `tcplab status`.
# Only the namespace names carry it: interface names (15 characters at most) are always IFNAME.
RUN_PREFIX = "tcplab-run-"  # tcplab run: one testbed per scenario
CHECK_PREFIX = "tcplab-check-"  # tcplab lab check: the student's own check
GRADE_PREFIX = "tcplab-grade-"  # tcplab grade: one testbed per submission
TEST_PREFIX = "tcplab-test-"  # the test suite's testbeds
