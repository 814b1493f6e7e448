"""Lab 1 reference solution: the three-way handshake, by hand."""

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000

syn = IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=isn)
synack = lab.sr(syn)
if synack is None:
    raise SystemExit("no answer to the SYN")
kernel_isn = synack[TCP].seq
print("SYN+ACK: seq", kernel_isn, "ack", synack[TCP].ack, "(our ISN + 1)")

# The SYN used one sequence number on each side: seq = our ISN + 1, ack = the kernel's ISN + 1.
ack = IP(dst=lab.dst) / TCP(
    sport=lab.sport, dport=lab.dport, flags="A", seq=isn + 1, ack=kernel_isn + 1
)
lab.send(ack)
