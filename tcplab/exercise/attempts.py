"""How many times in a row a student's `lab check` failed each check: which hint tier to show.

The first failure shows tier 1 (where to look), the second the concept, the third and later the
formula; a pass starts the count again. Kept per lab and check title in the invoking user's state
folder ($TCPLAB_STATE_DIR, else $XDG_STATE_HOME/tcplab, else ~/.local/state/tcplab; under sudo, the
home of SUDO_USER, and the file stays theirs). Losing it only means hints start at tier 1 again, so
an unreadable or unwritable file is ignored.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterable
from pathlib import Path

from tcplab.exercise.kit import ScoredCheck

FILE = "attempts.json"


def state_dir() -> Path:
    if os.environ.get("TCPLAB_STATE_DIR"):
        return Path(os.environ["TCPLAB_STATE_DIR"])
    user = os.environ.get("SUDO_USER")
    if user and os.geteuid() == 0:
        try:
            return Path(pwd.getpwnam(user).pw_dir) / ".local" / "state" / "tcplab"
        except KeyError:
            pass
    xdg = os.environ.get("XDG_STATE_HOME")
    return Path(xdg) / "tcplab" if xdg else Path.home() / ".local" / "state" / "tcplab"


class Attempts:
    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder or state_dir()) / FILE
        self.counts: dict[str, dict[str, int]] = {}
        try:
            data = json.loads(self.path.read_text())
            if isinstance(data, dict):
                self.counts = {
                    str(lab): {str(t): int(n) for t, n in checks.items()}
                    for lab, checks in data.items()
                    if isinstance(checks, dict)
                }
        except (OSError, ValueError, AttributeError):
            self.counts = {}

    def level(self, lab: str, title: str) -> int:
        """The tier to show if `title` fails now: 1 + its failures in a row so far, at most 3."""
        return min(3, 1 + self.counts.get(lab, {}).get(title, 0))

    def update(self, lab: str, results: Iterable[ScoredCheck]) -> None:
        """Count this run's failures (a check failed by its own cause; not one not reached)."""
        mine = self.counts.setdefault(lab, {})
        for r in results:
            if not r.shown:  # a hidden check's title stays off the student's disk, and its hint
                continue
            if r.ok:  # counted by the check's key, its English title, in every language
                mine.pop(r.key, None)
            elif r.status == "fail":
                mine[r.key] = mine.get(r.key, 0) + 1
        self._save()

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{FILE}.{os.getpid()}")
            tmp.write_text(json.dumps(self.counts, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, self.path)
            user = os.environ.get("SUDO_USER")
            if user and os.geteuid() == 0 and not os.environ.get("TCPLAB_STATE_DIR"):
                pw = pwd.getpwnam(user)
                for p in (self.path, self.path.parent):
                    os.chown(p, pw.pw_uid, pw.pw_gid)
        except (OSError, KeyError):
            pass
