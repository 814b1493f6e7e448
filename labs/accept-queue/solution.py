"""Lab 9 reference solution: fill the accept queue, overflow it, accept one, complete."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
BACKLOG = 2  # the listener's backlog (lab.toml)
isn: dict[int, int] = {}  # your ISN on each port
synack: dict[int, int] = {}  # the kernel's ISN on each port
sent_at: dict[int, float] = {}  # when its first SYN+ACK was captured


def seg(port, flags, seq, ack=0):
    return IP(dst=lab.dst) / TCP(sport=port, dport=lab.dport, flags=flags, seq=seq, ack=ack)


def syn(port):
    """Open a connection from `port`: SYN, and note the kernel's ISN from its SYN+ACK."""
    isn[port] = 1000 * (len(isn) + 1)
    answer = lab.sr(seg(port, "S", isn[port]), flags="SA")
    if answer is None:
        raise SystemExit(f"port {port}: no SYN+ACK (was the SYN dropped?)")
    synack[port], sent_at[port] = answer[TCP].seq, answer.time


def ack(port):
    """The third segment of the handshake on `port`."""
    lab.send(seg(port, "A", isn[port] + 1, synack[port] + 1))
    time.sleep(0.05)  # tcplab samples the kernel's sockets meanwhile


ports = [lab.sport] + [lab.new_port() for _ in range(BACKLOG + 1)]
fill, extra = ports[:-1], ports[-1]

# 1. Complete handshakes one at a time: each waits in the accept queue, nobody accept()s.
for port in fill[:-1]:
    syn(port)
    ack(port)

# 2. Open the extra connection before the queue is full (a SYN that finds it full is
#    dropped), then complete the last one that fits: BACKLOG + 1 connections are queued.
syn(fill[-1])
syn(extra)
ack(fill[-1])

# 3. One more ACK: the queue is full, the kernel drops it and keeps the request.
ack(extra)
again = lab.expect(timeout=2.5, flags="SA", port=extra)
if again is None:
    raise SystemExit(f"port {extra}: the SYN+ACK did not come again")
print(f"port {extra}: SYN+ACK again, {again.time - sent_at[extra]:.2f} s after the first")

# 4. The application accepts one connection; the answer to the SYN+ACK now completes.
print("accepted the connection from port", lab.app_accept())
ack(extra)
