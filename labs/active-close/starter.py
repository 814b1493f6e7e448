"""Lab 3: active close and half-close. Fill in the TODOs, then: tcplab lab check active-close"""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000  # your initial sequence number


def seg(flags, seq, ack, data=b""):
    """A segment from your port to the application's, exactly as given."""
    tcp = TCP(sport=lab.sport, dport=lab.dport, flags=flags, seq=seq, ack=ack)
    return IP(dst=lab.dst) / tcp / data


# The handshake (lab 1), done for you.
synack = lab.sr(seg("S", isn, 0))
if synack is None:
    raise SystemExit("no answer to the SYN")
kisn = synack[TCP].seq
lab.send(seg("A", isn + 1, kisn + 1))
time.sleep(0.05)

# 1. Your FIN: you go ESTABLISHED -> FIN_WAIT_1.
# TODO: which flags, seq and ack?
ack = lab.sr(seg("F", 0, 0), flags="A")
print("kernel's answer to your FIN:", ack and ack.summary())  # if ACKed: you are in FIN_WAIT_2
time.sleep(0.05)  # let the kernel's socket table show its new state

# 2. Half-close: the kernel's application still sends.
lab.app_send("still here")
data = lab.expect(flags="PA")
if data is None:
    raise SystemExit("no data from the kernel")
print("data after your FIN:", bytes(data[TCP].payload))
# TODO: acknowledge it. Which seq (your FIN used a number), which ack?
# lab.send(seg("A", ..., ...))

# 3. The application closes: the kernel sends its FIN.
lab.app_close()
fin = lab.expect(flags="FA")
if fin is None:
    raise SystemExit("no FIN from the kernel")
time.sleep(0.05)  # let LAST_ACK show in the kernel's socket table

# 4. TODO: the last ACK. You would now be in TIME_WAIT; the kernel's socket should be gone.
# lab.send(seg("A", ..., ...))
time.sleep(0.05)
