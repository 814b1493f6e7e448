"""Lab 7: the SYN backlog. Fill in the TODOs, then: tcplab lab check syn-backlog"""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
WATCH = 3.6  # seconds to watch for retransmitted SYN+ACKs


def seg(sport, flags, seq, ack=0):
    return IP(dst=lab.dst) / TCP(sport=sport, dport=lab.dport, flags=flags, seq=seq, ack=ack)


# 1. SYNs from several ports of yours, never completed.
# TODO: how many ports do you need for the listen(1) queue to overflow? (lab.new_port() for each)
ports = [lab.sport]
isn = {port: 1000 * (i + 1) for i, port in enumerate(ports)}
synacks = {port: [] for port in ports}

for port in ports:
    lab.send(seg(port, "S", isn[port]))
    answer = lab.expect(flags="SA", port=port)
    if answer is None:
        raise SystemExit(f"no SYN+ACK for port {port}")
    synacks[port].append(answer)
    print(f"port {port}: SYN+ACK seq {answer[TCP].seq}")
    time.sleep(0.05)  # let tcplab see the half-open connection

# 2. Collect every SYN+ACK the kernel sends for a while.
# TODO: loop until WATCH seconds have passed: pkt = lab.expect(timeout=..., flags="SA"), and append
#       each to synacks[pkt[TCP].dport]

for port in ports:
    t0 = synacks[port][0].time
    print(f"port {port}: SYN+ACKs at", [round(p.time - t0, 2) for p in synacks[port]], "s")

# 3. A port whose SYN+ACK never came again got a cookie. Complete that connection.
cookies = [port for port in ports if len(synacks[port]) == 1]
print("cookie ports (no retransmission seen):", cookies)
# TODO: for one cookie port, send flags "A" with which seq and which ack?
time.sleep(0.05)  # let tcplab see the connection the kernel rebuilt
