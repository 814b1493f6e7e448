"""Lab 1: the three-way handshake, by hand. Fill in the TODOs, then: tcplab lab check handshake"""

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000  # your initial sequence number: any 32-bit number

# 1. The SYN: from lab.sport to lab.dport, flags "S", seq = your ISN.
syn = IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="S", seq=isn)
synack = lab.sr(syn)
if synack is None:
    raise SystemExit("no answer to the SYN")
print("SYN+ACK: seq", synack[TCP].seq, "ack", synack[TCP].ack)

# 2. The ACK that completes the handshake.
# TODO: which seq and which ack? (flags "A")
ack = IP(dst=lab.dst) / TCP(sport=lab.sport, dport=lab.dport, flags="A", seq=0, ack=0)
lab.send(ack)
