"""Regenerate the screenshots in docs/pictures/ from real runs, rendered by headless Chromium.

    sudo python3 docs/pictures/make.py [--out FOLDER]

(as root: each run builds its own uniquely named testbed and removes it). Three pictures:
handshake.png (`tcplab handshake --svg` when it exists, else the handshake lab's reference run),
time-wait-failed.png (a failed time-wait attempt: the ACK of the kernel's FIN one short, so the
kernel ends in CLOSING, never TIME_WAIT) and state-tour.png (the state-tour lab's reference run).
A report is cut down to its first picture (an <svg>, or the text ladder before the pictures
landed). Each page must render cleanly (no console error, not blank) or the script says why and
exits 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests import labcases  # noqa: E402
from tests.browser import Options, blank_reason, read_png, render  # noqa: E402

PICTURE = "svg, pre.ladder"  # the first picture of an exchange in a report
FAILED_TIME_WAIT = "fin_off_by_one_throughout"


def tcplab(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tcplab", *args], capture_output=True, text=True, cwd=REPO
    )
    if out.returncode not in ok:
        raise SystemExit(f"tcplab {' '.join(args)} ended with {out.returncode}: {out.stderr}")
    return out.stdout


def has_svg_option() -> bool:
    return "--svg" in tcplab("handshake", "--help")


def handshake(work: Path) -> tuple[Path, Options]:
    if not has_svg_option():
        html = work / "handshake.html"
        tcplab("lab", "check", "handshake", "--reference", "--html", str(html))
        return html, Options(selector=PICTURE, width=1000)
    from tcplab import defaults
    from tcplab.netns.fresh import fresh_testbed

    svg = work / "handshake.svg"
    with fresh_testbed(defaults.TEST_PREFIX) as rec:
        tcplab("handshake", "--target", f"{rec.spec.kernel}:{rec.spec.port}", "--svg", str(svg))
    return svg, Options(width=1000, height=600)


def failed_time_wait(work: Path) -> tuple[Path, Options]:
    case = next(c for c in labcases.cases("time-wait") if labcases.case_name(c) == FAILED_TIME_WAIT)
    solution = labcases.write_solution("time-wait", case, work)
    html = work / "time-wait.html"
    tcplab(
        "lab",
        "check",
        "time-wait",
        str(solution),
        "--html",
        str(html),
        "--hint-level",
        "1",
        ok=(1,),
    )
    return html, Options(selector=PICTURE, width=1000)


def state_tour(work: Path) -> tuple[Path, Options]:
    html = work / "state-tour.html"
    tcplab("lab", "check", "state-tour", "--reference", "--html", str(html))
    return html, Options(selector=PICTURE, width=1000)


PICTURES = {"handshake": handshake, "time-wait-failed": failed_time_wait, "state-tour": state_tour}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="tcplab-pictures-") as tmp:
        for name, make in PICTURES.items():
            source, options = make(Path(tmp))
            options.fast = False  # small files for the repository
            page = render(source, args.out / f"{name}.png", options)
            problems = page.problems + [r for r in [blank_reason(read_png(page.screenshot))] if r]
            print(f"{page.screenshot}: {page.size[0]}x{page.size[1]}", *problems, sep="\n  ")
            failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
