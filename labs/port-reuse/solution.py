"""Lab 10 reference solution: many TIME_WAITs, the 4-tuple, and tcp_tw_reuse."""

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
    TIME_WAIT on this 4-tuple."""
    lab.app_close(port)
    fin = lab.expect(flags="FA", port=port)
    if fin is None:
        raise SystemExit(f"no FIN on the connection from port {port}")
    lab.send(seg(port, "A", isn + 1, fin[TCP].seq + 1, kport, ecr))
    last = lab.sr(seg(port, "FA", isn + 1, fin[TCP].seq + 1, kport, ecr))
    print(f"  port {port}: the kernel ACKed our FIN:", last is not None)


# -- Part 1: a server that closes first holds one TIME_WAIT per 4-tuple ------------------------
for n, port in enumerate((lab.sport, lab.new_port(), lab.new_port())):
    isn = 1000 + 100000 * n  # each connection its own ISN
    synack = lab.sr(seg(port, "S", isn))
    if synack is None:
        raise SystemExit("no answer to the SYN")
    lab.send(seg(port, "A", isn + 1, synack[TCP].seq + 1))
    time.sleep(PAUSE)
    kernel_closes(port)
time.sleep(PAUSE)  # three TIME_WAITs on port 7788, one per port of ours


# -- Part 2: the kernel as a client with a single port ------------------------------------------
def kernel_connects(port, timestamps=True):
    """The application connect()s to our `port`; we answer its SYN with SYN+ACK (with or
    without timestamps). Returns (its port, its SYN) or None if connect() failed."""
    try:
        kport = lab.app_connect(port)
    except AppError as err:
        print(f"  connect() to port {port} failed: {err.reply.errno}")
        return None
    syn = lab.expect(flags="S", port=port)
    if syn is None:
        raise SystemExit(f"no SYN to port {port}")
    tsval = dict(syn[TCP].options)["Timestamp"][0]
    ecr = tsval if timestamps else None
    lab.sr(seg(port, "SA", isn, syn[TCP].seq + 1, kport, ecr))
    print(f"  the kernel connects from port {kport} to {port}, ISN {syn[TCP].seq}")
    return kport, syn, ecr


first, second, third = lab.new_port(), lab.new_port(), lab.new_port()
kport, syn, ecr = kernel_connects(first)
kernel_closes(first, kport, ecr)  # TIME_WAIT on (kernel:kport, us:first)

kernel_connects(first)  # at once: the only 4-tuple to `first` is in TIME_WAIT -> EADDRNOTAVAIL
kernel_connects(second)  # another port of ours: another 4-tuple, the same kernel port

got = kernel_connects(third, timestamps=False)  # this one without timestamps
if got:
    kernel_closes(third, got[0])

time.sleep(1.5)  # past tcp_tw_reuse_delay (1000 ms) since both TIME_WAITs began
again = kernel_connects(first)  # reused: the same 4-tuple comes back from TIME_WAIT
if again:
    print("  new ISN - old ISN =", (again[1][TCP].seq - syn[TCP].seq) % 2**32)
kernel_connects(third)  # no timestamps on the old connection: never reused
time.sleep(PAUSE)
