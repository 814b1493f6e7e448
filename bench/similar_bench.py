"""Benchmark: similarity hints for a course of 300 students × 11 labs (no root needed).

    python3 bench/similar_bench.py [--students 300] [--copies 3]

Each student's solution to each lab is the lab's reference with the student's own changes: names
renamed (their own), a few lines of their own added at random places. In each lab, --copies
students copy another's file (one byte-identical, one with names changed, one reformatted). It
reports the time per lab and in all, and what was found: the planted copies must be found, and
nothing else (the students share only the reference, which is discounted).
"""

from __future__ import annotations

import argparse
import random
import re
import time

from tcplab.exercise.catalog import all_labs
from tcplab.grade.similar import similar


def own_version(reference: str, rng: random.Random, n: int) -> str:
    """The reference with the student's own names and a few lines of their own."""
    names = sorted(set(re.findall(r"^(\w+) = ", reference, re.M)))
    text = reference
    for name in rng.sample(names, min(3, len(names))):
        text = re.sub(rf"\b{name}\b", f"{name}_{n}", text)
    lines = text.splitlines()
    for k in range(rng.randrange(3, 8)):
        at = rng.randrange(len(lines) + 1)
        indent = re.match(r"\s*", lines[at - 1]).group() if 0 < at <= len(lines) else ""
        if lines[at - 1 : at] and lines[at - 1].rstrip().endswith((":", "(", ",", "\\")):
            continue  # not inside a statement or before a block
        if at < len(lines) and lines[at].startswith(" ") and not indent:
            continue
        extra = f"{indent}note_{n}_{k} = {rng.randrange(1000)} + len(str({rng.random()!r}))"
        lines.insert(at, extra)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--copies", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(13)
    total, found_all = 0.0, 0
    for lab in all_labs():
        reference = lab.solution.read_text()
        sources = {
            f"s{n:03}": own_version(reference, rng, n).encode() for n in range(args.students)
        }
        victim = sources["s000"].decode()
        planted = {
            "copy-bytes": victim,
            "copy-names": re.sub(r"\bnote_0_", "mine_", victim),
            "copy-layout": victim.replace(" = ", "=").replace("\n\n", "\n"),
        }
        for name, text in list(planted.items())[: args.copies]:
            sources[name] = text.encode()
        given = [lab.starter.read_bytes(), lab.solution.read_bytes()]
        t0 = time.perf_counter()
        clusters = similar(lab.name, sources, given)
        took = time.perf_counter() - t0
        total += took
        found_all += len(clusters)
        members = sorted({s for c in clusters for s in c.students})
        print(f"{lab.name:<16} {len(sources)} submissions  {took * 1000:7.1f} ms  "
              f"{len(clusters)} cluster(s): {', '.join(members) or '-'}")  # fmt: skip
    print(f"all {len(all_labs())} labs: {total:.2f} s, {found_all} cluster(s)")


if __name__ == "__main__":
    main()
