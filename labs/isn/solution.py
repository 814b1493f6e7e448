"""Lab 11 reference solution: the kernel's ISN, a clock plus a hash."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000
TICKS_PER_SECOND = 1e9 / 64  # Linux's clock part: one per 64 ns


def half_open(port: int) -> tuple[int, float]:
    """SYN from `port`; the kernel's SYN+ACK gives its ISN; a RST removes
    the half-open connection. Returns (the kernel's ISN, the time its
    SYN+ACK was captured)."""
    syn = IP(dst=lab.dst) / TCP(sport=port, dport=lab.dport, flags="S", seq=isn)
    synack = lab.sr(syn, flags="SA")
    if synack is None:
        raise SystemExit(f"no SYN+ACK to the SYN from port {port}")
    # the SYN used one number: the kernel expects our next one at isn + 1
    rst = TCP(sport=port, dport=lab.dport, flags="R", seq=isn + 1)
    lab.send(IP(dst=lab.dst) / rst)
    return synack[TCP].seq, float(synack.time)


def signed(diff: int) -> int:
    """A difference of two 32-bit numbers, signed: -2**31 .. 2**31 - 1."""
    return (diff + 2**31) % 2**32 - 2**31


# (a) One port, twice, 0.7 s apart: the clock part.
first, t1 = half_open(lab.sport)
time.sleep(0.7)
second, t2 = half_open(lab.sport)
moved = (second - first) % 2**32
rate = moved / (t2 - t1)
print(f"port {lab.sport}: ISN {first}, then {second} after {t2 - t1:.3f} s")
print(f"  moved {moved / 1e6:+.3f} M: {rate / 1e6:.3f} M per second")
print(f"  one per 64 ns: {TICKS_PER_SECOND / 1e6:.3f} M per second")

# (b) Three other ports, at about the same time: the hash of the 4-tuple.
for port in (lab.new_port(), lab.new_port(), lab.new_port()):
    other, t = half_open(port)
    clock = (t - t2) * TICKS_PER_SECOND
    print(f"port {port}: ISN {other}")
    print(f"  {signed(other - second) / 1e6:+.3f} M from port {lab.sport}'s,")
    print(f"  of which the clock gives {clock / 1e6:+.3f} M")

# (c) Predict the next ISN of the first 4-tuple from the clock alone.
time.sleep(0.7)
guess = (second + round((time.time() - t2) * TICKS_PER_SECOND)) % 2**32
third, t3 = half_open(lab.sport)
print(f"port {lab.sport}: predicted {guess}, the kernel chose {third}")
print(f"  off by {signed(third - guess):+d}")
