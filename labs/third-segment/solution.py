"""Lab 2 reference solution: data on the third segment, and what uses sequence numbers."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000


def seg(flags, seq, ack, data=b""):
    return (
        IP(dst=lab.dst)
        / TCP(sport=lab.sport, dport=lab.dport, flags=flags, seq=seq, ack=ack)
        / data
    )


synack = lab.sr(seg("S", isn, 0))
if synack is None:
    raise SystemExit("no answer to the SYN")
kisn = synack[TCP].seq

# The third segment: completes the handshake (ack = kernel ISN + 1) and carries 5 bytes.
first = b"hello"
reply = lab.sr(seg("PA", isn + 1, kisn + 1, first), flags="A")
print("the kernel acknowledged", reply[TCP].ack - isn, "(ISN + 1 + 5)")
time.sleep(0.05)
print("the application read", lab.app_recv())

# A bare ACK: no data, no SYN, no FIN, so it occupies no sequence number.
nxt = isn + 1 + len(first)
print("answer to a bare ACK:", lab.sr(seg("A", nxt, kisn + 1), timeout=0.3))

# So the next data starts at the same number as the bare ACK.
second = b"world!"
reply = lab.sr(seg("PA", nxt, kisn + 1, second), flags="A")
print("the kernel acknowledged", reply[TCP].ack - isn, "(ISN + 1 + 5 + 6)")
time.sleep(0.05)
