"""Lab 4: passive close and TIME_WAIT. Fill in the TODOs, then: tcplab lab check time-wait"""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000


def seg(flags: str, seq: int, ack: int = 0) -> IP:
    """A segment of ours on this connection, every field as given."""
    return IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags=flags, seq=seq, ack=ack)


# 1. The handshake (lab 1): done for you.
synack = lab.sr(seg("S", isn))
if synack is None:
    raise SystemExit("no answer to the SYN")
y = synack[TCP].seq  # the kernel's ISN
lab.send(seg("A", isn + 1, y + 1))
time.sleep(0.05)

# 2. The kernel's application closes first.
lab.app_close()
fin = lab.expect(flags="FA")
if fin is None:
    raise SystemExit("the kernel sent no FIN")
print("kernel FIN: seq y +", fin[TCP].seq - y, "ack isn +", fin[TCP].ack - isn)

# 3. TODO: ACK the kernel's FIN on its own (flags "A"). Which ack?
lab.send(seg("A", isn + 1, 0))
time.sleep(0.05)  # let tcplab see FIN_WAIT_2

# 4. TODO: your own FIN (flags "FA"). Which seq, which ack?
last = lab.sr(seg("FA", 0, 0))
print("answer to our FIN:", last and last.summary())

# 5. TODO: wait 2 s in TIME_WAIT, send the same FIN again, print the answer, then
#    time.sleep(1) so tcplab can read the restarted timer.

# 6. TODO: an old SYN from the same port (seq not above the old connection's): what answers?

# 7. TODO: a new SYN from the same port with a seq above the old connection's: print the
#    SYN+ACK's seq - y, then complete the new handshake with an ACK.
