"""Lab 10: many TIME_WAITs and port reuse. Fill in the TODOs, then: tcplab lab check port-reuse"""

import time

from scapy.all import IP, TCP

from tcplab.app.protocol import AppError
from tcplab.student import Lab

lab = Lab()
isn = 1000
PAUSE = 0.05  # long enough for tcplab to read the kernel's socket table


def seg(port, flags, seq, ack=0, kport=None, ecr=None):
    """A segment from our `port` to the kernel's `kport` (default: the application's); with
    `ecr`, a timestamps option (our clock in ms, and the kernel's TS value it echoes)."""
    opts = [("Timestamp", (int(time.time() * 1000) % 2**32, ecr))] if ecr is not None else []
    tcp = TCP(sport=port, dport=kport or lab.dport, flags=flags, seq=seq, ack=ack, options=opts)
    return IP(dst=lab.dst) / tcp


def kernel_closes(port, kport=None, ecr=None):
    """The application closes first; we ACK its FIN, then send ours: the kernel is left in
    TIME_WAIT on this 4-tuple (lab 4)."""
    lab.app_close(port)
    fin = lab.expect(flags="FA", port=port)
    if fin is None:
        raise SystemExit(f"no FIN on the connection from port {port}")
    lab.send(seg(port, "A", isn + 1, fin[TCP].seq + 1, kport, ecr))
    last = lab.sr(seg(port, "FA", isn + 1, fin[TCP].seq + 1, kport, ecr))
    print(f"  port {port}: the kernel ACKed our FIN:", last is not None)


# -- Part 1: a server that closes first -----------------------------------------------------------
# TODO: three connections, each closed by the kernel. Which port for each?
for port in (lab.sport,):
    synack = lab.sr(seg(port, "S", isn))
    if synack is None:
        raise SystemExit("no answer to the SYN")
    lab.send(seg(port, "A", isn + 1, synack[TCP].seq + 1))
    time.sleep(PAUSE)
    kernel_closes(port)
time.sleep(PAUSE)  # let tcplab read the kernel's TIME_WAITs


# -- Part 2: the kernel as a client with a single port --------------------------------------------
def kernel_connects(port, timestamps=True):
    """The application connect()s to our `port`; we answer its SYN with SYN+ACK. Returns (its
    port, its SYN, the TS value we echo or None), or None if connect() failed."""
    try:
        kport = lab.app_connect(port)
    except AppError as err:
        print(f"  connect() to port {port} failed: {err.reply.errno}")
        return None
    syn = lab.expect(flags="S", port=port)
    if syn is None:
        raise SystemExit(f"no SYN to port {port}")
    print("  the kernel's SYN options:", syn[TCP].options)
    ecr = None  # TODO: with `timestamps`, echo the TS value of the kernel's SYN
    lab.sr(seg(port, "SA", isn, syn[TCP].seq + 1, kport, ecr))
    print(f"  the kernel connects from port {kport} to {port}")
    return kport, syn, ecr


first, second, third = lab.new_port(), lab.new_port(), lab.new_port()
kport, syn, ecr = kernel_connects(first)
kernel_closes(first, kport, ecr)  # the kernel's side of (kport, first) is in TIME_WAIT

# TODO step 3: connect to `first` again, at once. What happens?
# TODO step 4: connect to `second`. From which port of the kernel?
# TODO step 5: connect to `third`, answer without timestamps, let the kernel close first.
# TODO step 6: wait 1.5 s, connect to `first` again; print the new SYN's seq minus the old one.
# TODO step 7: connect to `third` again. What happens?
