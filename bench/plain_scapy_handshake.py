"""Baseline for bench/handshake_bench.py: a three-way handshake as a plain scapy script does it.

Run it inside the lab's crafting namespace (the bench does this for you):

    ip netns exec CRAFTING python3 bench/plain_scapy_handshake.py ADDR PORT [--sport N] [--isn N]

It sends a SYN with sr1(), waits for the SYN+ACK, and sends the ACK with send(). It checks
nothing else: no socket table, no timestamps, no tidy-up (the bench aborts the connection
afterwards, outside the timed part). The crafting namespace's nftables rule drops its own kernel's
RST to the SYN+ACK, so the kernel host's connection really reaches ESTABLISHED.

It prints one JSON line:
  sr1_ms        wall time of the sr1() call, measured in this process with perf_counter
                (what a script author sees: scapy's socket set-up, sending, sniffing, matching)
  wire_rtt_ms   scapy's own stamps: the SYN+ACK's receive time minus the SYN's sent_time
  sport, isn    the connection's source port and our initial sequence number
  flags         the flags of the answer to the SYN ("SA" when all went well)
Exit code 0 when the SYN+ACK came and the ACK was sent, 1 otherwise.
"""

import argparse
import json
import logging
import random
import sys
import time

logging.getLogger("scapy").setLevel(logging.ERROR)

from scapy.all import *  # noqa: E402,F403  (what a plain scapy script does)
from scapy.all import IP, TCP, conf, getmacbyip, send, sr1  # noqa: E402  (named, for linters)


def main() -> int:
    ap = argparse.ArgumentParser(description="plain scapy three-way handshake (baseline)")
    ap.add_argument("addr", help="the kernel host's address")
    ap.add_argument("port", type=int, help="the port that listens there")
    ap.add_argument("--sport", type=int, default=None, help="source port (default: random)")
    ap.add_argument(
        "--isn", type=int, default=None, help="initial sequence number (default: random)"
    )
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds sr1 waits for the SYN+ACK")
    args = ap.parse_args()

    conf.verb = 0
    sport = args.sport if args.sport is not None else random.randrange(20000, 32000)
    isn = args.isn if args.isn is not None else random.randrange(1 << 32)
    # Resolve the link-layer address before the clock starts, so an ARP exchange (if scapy needs
    # one) is not counted as SYN -> SYN+ACK time. It still counts in the whole-process time.
    getmacbyip(args.addr)

    syn = IP(dst=args.addr) / TCP(sport=sport, dport=args.port, flags="S", seq=isn)
    t0 = time.perf_counter()
    ans = sr1(syn, timeout=args.timeout, verbose=0)
    sr1_ms = (time.perf_counter() - t0) * 1e3

    out = {
        "sport": sport,
        "isn": isn,
        "sr1_ms": sr1_ms,
        "wire_rtt_ms": None,
        "flags": None,
        "ok": False,
    }
    if ans is not None and TCP in ans:
        out["flags"] = str(ans[TCP].flags)
        sent_time = getattr(syn, "sent_time", None)
        if sent_time:
            out["wire_rtt_ms"] = (float(ans.time) - float(sent_time)) * 1e3
        if out["flags"] == "SA" and ans[TCP].ack == (isn + 1) & 0xFFFFFFFF:
            ack = IP(dst=args.addr) / TCP(
                sport=sport,
                dport=args.port,
                flags="A",
                seq=(isn + 1) & 0xFFFFFFFF,
                ack=(ans[TCP].seq + 1) & 0xFFFFFFFF,
            )
            send(ack, verbose=0)
            out["ok"] = True
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
