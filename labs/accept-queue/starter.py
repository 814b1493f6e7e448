"""Lab 9: the accept queue. Fill in the TODOs, then: tcplab lab check accept-queue"""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = {}  # your ISN on each port
synack = {}  # the kernel's ISN on each port


def seg(port, flags, seq, ack=0):
    return IP(dst=lab.dst) / TCP(sport=port, dport=lab.dport, flags=flags, seq=seq, ack=ack)


def syn(port):
    """Send a SYN from `port`; True if the kernel answered with a SYN+ACK."""
    isn[port] = 1000 * (len(isn) + 1)
    answer = lab.sr(seg(port, "S", isn[port]), flags="SA")
    if answer is None:
        print(f"port {port}: no SYN+ACK")
        return False
    synack[port] = answer[TCP].seq
    print(f"port {port}: SYN+ACK seq {answer[TCP].seq} at {answer.time:.3f}")
    return True


def ack(port):
    """The third segment of the handshake on `port`."""
    lab.send(seg(port, "A", isn[port] + 1, synack[port] + 1))
    time.sleep(0.05)  # let tcplab sample the kernel's sockets


# 1. Complete handshakes one at a time, one port each; the application never accepts.
# TODO: how many ports? (lab.new_port() for each more)
ports = [lab.sport]
for port in ports:
    if syn(port):
        ack(port)

# 2. The extra connection: when must its SYN go, and what happens to its ACK?
# TODO

# 3. Watch that port: lab.expect(timeout=..., flags="SA", port=...)
# TODO

# 4. lab.app_accept() takes one connection off the queue. Then?
# TODO
