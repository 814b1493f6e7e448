"""Ctrl-C at 0, 5, ... 80 ms after starting `tcplab --help` and `tcplab run x.toml`: how each run
ended, and where every traceback came from.

    python3 bench/interrupt_bench.py [TCPLAB] [RUNS_PER_DELAY]     (default: tcplab on PATH, 20)

Phases, in the order the command lives through them: killed before Python installs its SIGINT
handler (quiet, the shell sees 130); Python's own start-up (site and the venv's .pth files); a
script's own first lines (pip's console-script wrapper runs `import re`; bin/tcplab does not);
Python finding tcplab.launch; tcplab code (must be none); tcplab's one line and exit 130; the
command finished before the signal.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def phase(err: str, code: int) -> str:
    if "Traceback" not in err and "Fatal Python" not in err:
        if code == 130:
            return "tcplab: one line, exit 130"
        if code == -signal.SIGINT:
            return "killed before Python's handler (quiet)"
        return f"finished first (exit {code})"
    if "init_import_site" in err or "<frozen site>" in err or "init_sys_streams" in err:
        return "TRACEBACK in Python's start-up"
    if "zipimport" in err or ", line 0, in <module>" in err:  # line 0: compiling the script
        return "TRACEBACK in Python's start-up"
    if "tcplab/launch.py" in err or "tcplab/cli" in err:
        return "TRACEBACK in tcplab code"
    if "import tcplab.launch" in err or "from tcplab.launch import main" in err:
        return "TRACEBACK while Python finds tcplab.launch"
    return "TRACEBACK in the console script's first lines"


def main() -> None:
    exe = sys.argv[1] if len(sys.argv) > 1 else shutil.which("tcplab") or "tcplab"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    seen: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as cwd:
        for args in (["--help"], ["run", "x.toml"]):
            for ms in range(0, 85, 5):
                for _ in range(runs):
                    p = subprocess.Popen(
                        [exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd
                    )
                    time.sleep(ms / 1000)
                    p.send_signal(signal.SIGINT)
                    _, err = p.communicate()
                    seen[phase(err.decode(errors="replace"), p.returncode)] += 1
    for name, n in seen.most_common():
        print(f"{n:5d}  {name}")
    print(f"{sum(seen.values())} runs of {exe}")


if __name__ == "__main__":
    main()
