"""Lab 4 reference solution: the kernel closes first and ends in TIME_WAIT."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000


def seg(flags: str, seq: int, ack: int = 0) -> IP:
    """A segment of ours on this connection, every field as given."""
    return IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags=flags, seq=seq, ack=ack)


# 1. The handshake (lab 1).
synack = lab.sr(seg("S", isn))
if synack is None:
    raise SystemExit("no answer to the SYN")
y = synack[TCP].seq  # the kernel's ISN
lab.send(seg("A", isn + 1, y + 1))
time.sleep(0.05)

# 2. The kernel's application closes first: FIN, seq y + 1. The kernel is in FIN_WAIT_1.
lab.app_close()
fin = lab.expect(flags="FA")
if fin is None:
    raise SystemExit("the kernel sent no FIN")
print("kernel FIN: seq y +", fin[TCP].seq - y)

# 3. ACK its FIN on its own (the FIN occupies y + 1, so ack = y + 2): FIN_WAIT_2.
lab.send(seg("A", isn + 1, fin[TCP].seq + 1))
time.sleep(0.05)

# 4. Our own FIN. The bare ACK used no sequence number: still seq isn + 1. The kernel ACKs it
#    and enters TIME_WAIT.
last = lab.sr(seg("FA", isn + 1, fin[TCP].seq + 1))
print("ACK of our FIN: seq y +", last[TCP].seq - y, "ack isn +", last[TCP].ack - isn)

# 5. Pretend that ACK was lost: send the same FIN again two seconds later. TIME_WAIT ACKs it
#    again and restarts its 60 s timer.
time.sleep(2)
again = lab.sr(seg("FA", isn + 1, fin[TCP].seq + 1))
print("ACK of the FIN again: seq y +", again[TCP].seq - y, "ack isn +", again[TCP].ack - isn)
time.sleep(1)  # let tcplab read the restarted timer

# 6. An old SYN (seq not above rcv_nxt = isn + 2): TIME_WAIT answers with its ACK.
old = lab.sr(seg("S", isn))
print("old SYN answered by", old[TCP].flags, "seq y +", old[TCP].seq - y)
time.sleep(0.05)

# 7. A new SYN above rcv_nxt: TIME_WAIT gives way to a new incarnation, whose ISN is the old
#    snd_nxt (y + 2) + 65537.
new_isn = isn + 100000
new = lab.sr(seg("S", new_isn), flags="SA")
print("new SYN answered by", new[TCP].flags, "ISN = y +", new[TCP].seq - y)
lab.send(seg("A", new_isn + 1, new[TCP].seq + 1))
time.sleep(0.05)
