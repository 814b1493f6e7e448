"""The kernel host's counters: /proc/net/snmp and /proc/net/netstat read inside its namespace.

/proc/self/net follows the thread-group leader's namespace; /proc/thread-self/net follows the
calling thread's, which is the one `inside()` entered.
"""

from __future__ import annotations

from pathlib import Path

from tcplab.errors import EnvironmentProblem
from tcplab.i18n import _
from tcplab.netns.enter import inside

PROC_FILES = ("snmp", "netstat")


def read_texts(ns: str) -> tuple[str, ...]:
    """The texts of /proc/net/snmp and /proc/net/netstat in namespace `ns`."""
    with inside(ns):
        try:
            return tuple((Path("/proc/thread-self/net") / f).read_text() for f in PROC_FILES)
        except OSError as exc:
            raise EnvironmentProblem(
                _("cannot read the counters of {ns}: {strerror}").format(
                    ns=ns, strerror=exc.strerror
                ),
                _("check that /proc is mounted"),
            ) from exc
