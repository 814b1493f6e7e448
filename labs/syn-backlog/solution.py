"""Lab 7 reference solution: fill the SYN queue, watch the retransmissions, complete a cookie."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
WATCH = 3.6  # the queued SYN+ACKs come again after 1 s and 3 s


def seg(sport, flags, seq, ack=0):
    return IP(dst=lab.dst) / TCP(sport=sport, dport=lab.dport, flags=flags, seq=seq, ack=ack)


ports = [lab.sport] + [lab.new_port() for _ in range(3)]
isn = {port: 1000 * (i + 1) for i, port in enumerate(ports)}
synacks: dict[int, list] = {port: [] for port in ports}

# 1. One SYN from each port, never completed: the first two fill listen(1)'s SYN queue.
for port in ports:
    lab.send(seg(port, "S", isn[port]))
    answer = lab.expect(flags="SA", port=port)
    if answer is None:
        raise SystemExit(f"no SYN+ACK for port {port}")
    synacks[port].append(answer)
    time.sleep(0.05)  # the request sock (SYN_RECEIVED) shows in the kernel's socket table

# 2. Watch: which SYN+ACKs are retransmitted, and when?
end = time.monotonic() + WATCH
while (left := end - time.monotonic()) > 0:
    pkt = lab.expect(timeout=left, flags="SA")
    if pkt is not None and pkt[TCP].dport in synacks:
        synacks[pkt[TCP].dport].append(pkt)

for port in ports:
    t0 = synacks[port][0].time
    times = ", ".join(f"{p.time - t0:.2f}" for p in synacks[port])
    print(f"port {port}: SYN+ACK seq {synacks[port][0][TCP].seq} at {times} s")

# 3. A SYN+ACK never retransmitted was a cookie: the kernel kept nothing. Complete one anyway.
cookies = [port for port in ports if len(synacks[port]) == 1]
if not cookies:
    raise SystemExit("no cookie SYN+ACK seen")
port = cookies[0]
cookie = synacks[port][0][TCP].seq
lab.send(seg(port, "A", isn[port] + 1, cookie + 1))
time.sleep(0.05)  # ESTABLISHED, rebuilt from the cookie
print(f"completed port {port} with ack = cookie + 1 = {cookie + 1}")
