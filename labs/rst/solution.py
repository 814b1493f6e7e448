"""Lab 5 reference solution: RST on a stale SYN+ACK, a closed port, and the challenge ACK."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()

# (a) The kernel's application connects to us (lab.sport) from an ephemeral port.
kport = lab.app_connect()
syn = lab.expect(flags="S", port=lab.sport)
if syn is None:
    raise SystemExit("the kernel sent no SYN")
x = syn[TCP].seq  # the kernel's ISN
y = 7000  # our ISN


def to_kernel(flags: str, seq: int, ack: int = 0) -> IP:
    return IP(dst=lab.dst) / TCP(sport=lab.sport, dport=kport, flags=flags, seq=seq, ack=ack)


# An old duplicate SYN (seq x - 1000, from an earlier connection) reached us first, and we
# answered it: our SYN+ACK acknowledges x - 999, a SYN the kernel never sent in this connection.
rst = lab.sr(to_kernel("SA", y, x - 1000 + 1), flags="R")
print("the kernel's RST:", rst and rst.summary())
print("its seq = our ack:", rst is not None and rst[TCP].seq == x - 999)
again = lab.expect(flags="S", port=lab.sport)  # still in SYN_SENT, it resends its SYN
print("SYN again:", again is not None and again[TCP].seq == x)
time.sleep(0.05)  # let tcplab see SYN_SENT

# Now the right SYN+ACK: ack = x + 1. The kernel ACKs: ESTABLISHED.
ack = lab.sr(to_kernel("SA", y, x + 1), flags="A")
if ack is not None:
    print("the kernel's ACK: seq x +", ack[TCP].seq - x, "ack y +", ack[TCP].ack - y)

# (b) A SYN to a port where nothing listens.
p = lab.new_port()
r = lab.sr(IP(dst=lab.dst) / TCP(sport=p, dport=9, flags="S", seq=5000))
print("closed port:", r and r.summary())

# (c) A connection to the application, then a SYN on it, as a host that rebooted would send.
q = lab.new_port()


def to_app(flags: str, seq: int, ack: int = 0) -> IP:
    return IP(dst=lab.dst) / TCP(sport=q, dport=lab.dport, flags=flags, seq=seq, ack=ack)


sa = lab.sr(to_app("S", 1000), flags="SA")
if sa is None:
    raise SystemExit("no SYN+ACK from the application's port")
lab.send(to_app("A", 1001, sa[TCP].seq + 1))
time.sleep(0.05)  # ESTABLISHED
challenge = lab.sr(to_app("S", 90000))
if challenge is None:
    raise SystemExit("no answer to the SYN on the established connection")
print("challenge ACK:", challenge[TCP].flags, "seq", challenge[TCP].seq - sa[TCP].seq, end=" ")
print("ack", challenge[TCP].ack - 1000)
# The rebooted host answers with RST at exactly the challenge ACK's ack: the kernel drops it.
lab.send(to_app("R", challenge[TCP].ack))
time.sleep(0.05)
