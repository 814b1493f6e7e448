"""Lab 2: data on the third segment. Fill in the TODOs, then: tcplab lab check third-segment"""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000  # your initial sequence number: any 32-bit number


def seg(flags, seq, ack, data=b""):
    """A segment from your port to the application's, exactly as given."""
    tcp = TCP(sport=lab.sport, dport=lab.dport, flags=flags, seq=seq, ack=ack)
    return IP(dst=lab.dst) / tcp / data


# 1. The SYN (as in lab 1).
synack = lab.sr(seg("S", isn, 0))
if synack is None:
    raise SystemExit("no answer to the SYN")
kisn = synack[TCP].seq
print("SYN+ACK: seq", kisn, "ack", synack[TCP].ack)

# 2. The third segment completes the handshake AND carries data.
first = b"hello"
# TODO: which seq and which ack? (flags "PA": PSH+ACK)
reply = lab.sr(seg("PA", 0, 0, first))
print("kernel's answer:", reply and reply.summary(), reply and reply[TCP].ack - isn)
time.sleep(0.05)  # let the kernel's socket table show the connection
# The application reads what arrived (lab.app_recv() fails if there is no connection).
# print("the application read", lab.app_recv())

# 3. A bare ACK: flags "A", no data.
# TODO: its seq? (which numbers have you used so far?)
nxt = 0
print("answer to a bare ACK:", lab.sr(seg("A", nxt, kisn + 1), timeout=0.3))

# 4. More data, after the bare ACK.
second = b"world!"
# TODO: its seq? Did the bare ACK use a sequence number?
reply = lab.sr(seg("PA", 0, kisn + 1, second))
print("kernel's answer:", reply and reply.summary(), reply and reply[TCP].ack - isn)
time.sleep(0.05)
