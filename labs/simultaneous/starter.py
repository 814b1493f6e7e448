"""Lab 6: simultaneous close and simultaneous open. Fill in the TODOs, then:
tcplab lab check simultaneous"""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
PAUSE = 0.05  # after each step, so tcplab can read the kernel's state


def seg(sport, dport, flags, seq, ack=0):
    return IP(dst=lab.dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)


def show(what, pkt, base_seq, base_ack):
    """Print a segment of the kernel's with seq and ack relative to the two ISNs."""
    if pkt is None:
        print(what, ": nothing came")
    else:
        print(
            what,
            ":",
            pkt[TCP].flags,
            "seq",
            pkt[TCP].seq - base_seq,
            "ack",
            pkt[TCP].ack - base_ack,
        )


# -- Part 1: simultaneous close ------------------------------------------------------------------
isn = 1000
synack = lab.sr(seg(lab.sport, lab.dport, "S", isn))
if synack is None:
    raise SystemExit("no answer to the SYN")
k = synack[TCP].seq  # the kernel's ISN
lab.send(seg(lab.sport, lab.dport, "A", isn + 1, k + 1))  # the handshake, as in lab 1
time.sleep(PAUSE)

lab.app_close()  # the application closes: the kernel sends its FIN
fin = lab.expect(flags="FA")
show("the kernel's FIN", fin, k, isn)

# 1. Your FIN, crossing the kernel's: as if you had not received its FIN yet.
# TODO: which seq, which ack? (flags "FA")
reply = lab.sr(seg(lab.sport, lab.dport, "FA", 0, 0), flags="A")
show("the kernel's answer to your FIN", reply, k, isn)
time.sleep(PAUSE)  # the kernel should be in CLOSING now

# 2. Acknowledge the kernel's FIN.
# TODO: which seq, which ack? (flags "A")
lab.send(seg(lab.sport, lab.dport, "A", 0, 0))
time.sleep(PAUSE)  # and in TIME_WAIT now

# -- Part 2: simultaneous open -------------------------------------------------------------------
port = lab.new_port()
kport = lab.app_connect(port)  # the application connects to your `port` from its port `kport`
syn = lab.expect(flags="S", port=port)
if syn is None:
    raise SystemExit("the kernel sent no SYN")
k2 = syn[TCP].seq
isn2 = 5000
time.sleep(PAUSE)  # SYN_SENT

# 3. Answer with your own SYN, as if you had connected at the same moment.
# TODO: which flags? (a server would answer "SA": that is not a simultaneous open)
flags = "SA"
reply = lab.sr(seg(port, kport, flags, isn2), flags="SA")
show("the kernel's answer to your SYN", reply, k2, isn2)
if reply is not None:
    print("  its options:", reply[TCP].options)
time.sleep(PAUSE)  # SYN_RECEIVED

# 4. Your SYN+ACK.
# TODO: which seq, which ack? (flags "SA")
reply = lab.sr(seg(port, kport, "SA", 0, 0), flags="A")
show("the kernel's answer to your SYN+ACK", reply, k2, isn2)
if reply is not None:
    print("  its window:", reply[TCP].window)
time.sleep(PAUSE)  # ESTABLISHED
