"""Fuzz bench: random frames through the grader's whole parsing path; no exception may escape.

    python3 bench/fuzz_bench.py [--frames 100000] [--batch 50] [--seed 1] [--lab handshake]

No root, no namespace: the frames are made here (tests/wireframes.py: Ethernet, IPv4 and TCP headers
with random fields, lengths, options, fragments and cut-offs; half of them a well-formed segment with
a few bytes changed), then go through what grading does with a capture, in batches of --batch:
frame -> Seen (tcplab.engine.intake, with fragment reassembly across the batch) -> Recording,
saved to JSON and loaded -> evaluate (observation, the model's replay, the lab's checks, the ladder)
-> the result's JSON and the rendered ladder (every --render-every'th: rich's wrapping costs ten
times the rest). It counts exceptions (each one is printed with its
frames' hex, at most 5), the segments read and those shown malformed, and reports frames per second
for the decoding alone and for the whole path.

Exit 0 when no exception escaped, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcplab.engine.intake import parse  # noqa: E402
from tcplab.wire.capture import Frame  # noqa: E402
from tcplab.wire.decode import Decoder  # noqa: E402
from tests.wireframes import (  # noqa: E402
    CRAFTING,
    KERNEL,
    ip_frame,
    random_frame,
    tcp_bytes,
    whole_path,
)


def mutated(rnd: random.Random) -> bytes:
    """A well-formed segment (random flags, options, payload), then a few bytes changed, maybe cut."""
    options = bytes(
        rnd.choice([0, 1, 2, 3, 4, 5, 8, rnd.randrange(256)]) for _ in range(rnd.randrange(12))
    )
    body = tcp_bytes(flags=rnd.randrange(256), seq=rnd.getrandbits(32), ack=rnd.getrandbits(32),
                     options=options, payload=rnd.randbytes(rnd.randrange(24)),
                     high=rnd.choice([0, 0, 1, rnd.randrange(16)]))  # fmt: skip
    frag = rnd.choice([0x4000, 0x4000, 0x2000, rnd.randrange(1 << 16)])
    frame = bytearray(
        ip_frame(body, src=rnd.choice([CRAFTING, KERNEL]), ident=rnd.randrange(4), frag=frag)
    )
    for _ in range(rnd.randrange(4)):
        at = rnd.randrange(14, len(frame))
        if at != 23:
            frame[at] = rnd.randrange(256)
    return bytes(frame[: rnd.choice([len(frame), len(frame), rnd.randrange(14, len(frame) + 1)])])


def batch(rnd: random.Random, size: int, t: float) -> list[Frame]:
    out = []
    for i in range(size):
        data = mutated(rnd) if rnd.random() < 0.5 else random_frame(rnd)
        out.append(Frame(data, t + i * 0.001, rnd.random() < 0.3))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lab", default="handshake")
    ap.add_argument("--render-every", type=int, default=10, help="render every Nth ladder")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    batches = [batch(rnd, args.batch, 1000.0 + n) for n in range(args.frames // args.batch)]
    total = sum(len(b) for b in batches)

    start = time.perf_counter()
    segments = malformed = 0
    for frames in batches:
        dec = Decoder()
        for fr in frames:
            got = dec._decode(fr.data)  # no safety net: an exception here is counted below
            if got is not None:
                segments += 1
                malformed += bool(got.malformed)
    decode_s = time.perf_counter() - start

    errors = 0
    start = time.perf_counter()
    for n, frames in enumerate(batches):
        try:
            parse(frames, KERNEL)
            whole_path(frames, args.lab, render=n % args.render_every == 0)
        except Exception:  # noqa: BLE001  # counted and shown: what the bench is for
            errors += 1
            if errors <= 5:
                traceback.print_exc()
                print(" ".join(f.data.hex() for f in frames), file=sys.stderr)
    whole_s = time.perf_counter() - start

    print(
        f"frames:           {total} in {len(batches)} recordings of {args.batch} (seed {args.seed})"
    )
    print(f"segments read:    {segments} ({malformed} shown malformed)")
    print(f"exceptions:       {errors}")
    print(f"decoding alone:   {total / decode_s:,.0f} frames/s ({decode_s:.2f} s)")
    shown = f"ladders rendered for 1 recording in {args.render_every}"
    print(f"whole path:       {total / whole_s:,.0f} frames/s ({whole_s:.2f} s; {shown})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
