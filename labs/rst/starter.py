"""Lab 5: RST on a stale SYN+ACK, a closed port, the challenge ACK. Fill in the TODOs, then:
tcplab lab check rst"""

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
print("the kernel's SYN: port", kport, "seq", x, "options", syn[TCP].options)


def to_kernel(flags: str, seq: int, ack: int = 0) -> IP:
    return IP(dst=lab.dst) / TCP(sport=lab.sport, dport=kport, flags=flags, seq=seq, ack=ack)


# TODO: answer as if an old duplicate SYN (seq x - 1000) had reached you first: a SYN+ACK that
# acknowledges that old SYN. Print the kernel's answer: flags, and seq compared with your ack.
answer = lab.sr(to_kernel("SA", y, x + 1))
print("answer:", answer and answer.summary())

time.sleep(0.05)  # let tcplab see the kernel's state

# TODO: if the kernel reset it, is it still connecting? Wait for its SYN again, then send the
# right SYN+ACK and print the kernel's ACK.

# (b) TODO: a SYN from lab.new_port() to a port where nothing listens (9). Print flags, seq, ack.

# (c) TODO: a handshake from another lab.new_port() to lab.dport; pause; then a SYN from that
# port with a new seq (a host that rebooted). What answers? Then a RST whose seq is the
# challenge ACK's ack.
