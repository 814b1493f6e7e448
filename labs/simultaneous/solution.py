"""Lab 6 reference solution: simultaneous close (CLOSING), then simultaneous open."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
PAUSE = 0.05  # long enough for tcplab to read the kernel's socket table


def seg(sport, dport, flags, seq, ack=0):
    return IP(dst=lab.dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)


# -- Part 1: simultaneous close ------------------------------------------------------------------
isn = 1000
synack = lab.sr(seg(lab.sport, lab.dport, "S", isn))
if synack is None:
    raise SystemExit("no answer to the SYN")
k = synack[TCP].seq  # the kernel's ISN
lab.send(seg(lab.sport, lab.dport, "A", isn + 1, k + 1))
time.sleep(PAUSE)  # ESTABLISHED

lab.app_close()  # the application closes: the kernel sends FIN and is in FIN_WAIT_1
fin = lab.expect(flags="FA")
if fin is None:
    raise SystemExit("the kernel sent no FIN")
print("kernel FIN: seq", fin[TCP].seq - k, "(relative)")

# Our FIN crosses the kernel's: we act as if we had not received it yet, so ack = k + 1.
reply = lab.sr(seg(lab.sport, lab.dport, "FA", isn + 1, k + 1), flags="A")
print("kernel ACK of our FIN: seq", reply[TCP].seq - k, "ack", reply[TCP].ack - isn)
time.sleep(PAUSE)  # CLOSING: the kernel waits for the ACK of its own FIN

# Now we acknowledge its FIN: our FIN used seq isn + 1, so this ACK has seq isn + 2.
lab.send(seg(lab.sport, lab.dport, "A", isn + 2, k + 2))
time.sleep(PAUSE)  # TIME_WAIT

# -- Part 2: simultaneous open -------------------------------------------------------------------
port = lab.new_port()
kport = lab.app_connect(port)  # the application connects to us: the kernel sends SYN
syn = lab.expect(flags="S", port=port)
if syn is None:
    raise SystemExit("the kernel sent no SYN")
k2 = syn[TCP].seq
time.sleep(PAUSE)  # SYN_SENT

isn2 = 5000
# Our own SYN, as if we had connected at the same moment: no ACK flag.
synack = lab.sr(seg(port, kport, "S", isn2), flags="SA")
print("kernel SYN+ACK: seq", synack[TCP].seq - k2, "ack", synack[TCP].ack - isn2)
time.sleep(PAUSE)  # SYN_RECEIVED

# Our SYN+ACK: the same ISN again (the SYN is re-sent), acknowledging the kernel's SYN.
ack = lab.sr(seg(port, kport, "SA", isn2, k2 + 1), flags="A")
print("kernel ACK: seq", ack[TCP].seq - k2, "ack", ack[TCP].ack - isn2)
time.sleep(PAUSE)  # ESTABLISHED
