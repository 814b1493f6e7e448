"""Lab 11: the kernel's initial sequence number.
Fill in the TODOs, then: tcplab lab check isn"""

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
isn = 1000  # your own ISN: any 32-bit number


def half_open(port: int) -> tuple[int, float]:
    """SYN from `port`; the kernel's SYN+ACK gives its ISN. Returns (the
    kernel's ISN, the time its SYN+ACK was captured)."""
    syn = IP(dst=lab.dst) / TCP(sport=port, dport=lab.dport, flags="S", seq=isn)
    synack = lab.sr(syn, flags="SA")
    if synack is None:
        raise SystemExit(f"no SYN+ACK to the SYN from port {port}")
    # TODO: send the RST (flags "R") that removes the half-open
    #       connection: which seq does the kernel take?
    return synack[TCP].seq, float(synack.time)


first, t1 = half_open(lab.sport)
print(f"port {lab.sport}: the kernel's ISN is {first}")

# TODO (a): wait at least 0.5 s, open a second half-open connection from
#           lab.sport; how far did the kernel's ISN move, per second?
#           (second - first) % 2**32
# TODO (b): right after, one from each of three new ports (lab.new_port()):
#           compare their ISNs
# TODO (c): predict the next ISN for lab.sport from the clock; check it
