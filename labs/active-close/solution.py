"""Lab 3 reference solution: active close from your side, and half-close."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000


def seg(flags, seq, ack, data=b""):
    tcp = TCP(sport=lab.sport, dport=lab.dport, flags=flags, seq=seq, ack=ack)
    return IP(dst=lab.dst) / tcp / data


# The handshake (lab 1).
synack = lab.sr(seg("S", isn, 0))
if synack is None:
    raise SystemExit("no answer to the SYN")
kisn = synack[TCP].seq
lab.send(seg("A", isn + 1, kisn + 1))
time.sleep(0.05)

# 1. Our FIN: seq = ISN + 1 (nothing sent since the SYN), ack = the kernel's ISN + 1.
#    We are in FIN_WAIT_1 until it is acknowledged; the kernel goes to CLOSE_WAIT.
ack = lab.sr(seg("FA", isn + 1, kisn + 1), flags="A")
print("the kernel acknowledged our FIN: ack", ack[TCP].ack - isn, "(ISN + 2)")  # FIN_WAIT_2
time.sleep(0.05)

# 2. Half-close: the kernel's application may still send. Our FIN used number ISN + 1, so
#    everything we send from now on has seq = ISN + 2.
lab.app_send("still here")
data = lab.expect(flags="PA")
end = data[TCP].seq + len(data[TCP].payload)
print("data after our FIN:", bytes(data[TCP].payload))
lab.send(seg("A", isn + 2, end))

# 3. The application closes: the kernel sends its FIN (CLOSE_WAIT -> LAST_ACK).
lab.app_close()
fin = lab.expect(flags="FA")
time.sleep(0.05)  # let the kernel's LAST_ACK be seen in its socket table

# 4. The last ACK: ack = the FIN's seq + 1. The kernel's socket is gone at once; we would
#    now be in TIME_WAIT.
lab.send(seg("A", isn + 2, fin[TCP].seq + 1))
time.sleep(0.05)
