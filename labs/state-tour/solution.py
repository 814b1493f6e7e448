"""Lab 8 reference solution: a tour of the eleven TCP states."""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
PAUSE = 0.05  # long enough for tcplab to read the kernel's socket table in each state


def pause():
    time.sleep(PAUSE)


def segment(port, flags, seq, ack=0):
    return IP(dst=lab.dst) / TCP(sport=port, dport=lab.dport, flags=flags, seq=seq, ack=ack)


def handshake(port, isn):
    """LISTEN -> SYN_RECEIVED -> ESTABLISHED; returns (our next seq, the kernel's next seq)."""
    synack = lab.sr(segment(port, "S", isn), flags="SA")
    if synack is None:
        raise SystemExit(f"port {port}: no SYN+ACK")
    pause()  # SYN_RECEIVED (a request sock)
    lab.send(segment(port, "A", isn + 1, synack[TCP].seq + 1))
    pause()  # ESTABLISHED
    return isn + 1, synack[TCP].seq + 1


def wait_for(port, flags):
    got = lab.expect(timeout=2, flags=flags, port=port)
    if got is None:
        raise SystemExit(f"port {port}: no {flags} from the kernel")
    return got


# 1. We close first: the kernel goes CLOSE_WAIT -> LAST_ACK -> CLOSED.
port = lab.sport
seq, ack = handshake(port, 1000)
lab.send(segment(port, "FA", seq, ack))
wait_for(port, "A")  # the ACK of our FIN (may come from the delayed-ACK timer)
pause()  # CLOSE_WAIT
lab.app_close(port)
fin = wait_for(port, "FA")
pause()  # LAST_ACK
lab.send(segment(port, "A", seq + 1, fin[TCP].seq + 1))  # the FIN occupies one number
pause()  # CLOSED: the socket is gone

# 2. The kernel closes first: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT.
port = lab.new_port()
seq, ack = handshake(port, 2000)
lab.app_close(port)
fin = wait_for(port, "FA")
pause()  # FIN_WAIT_1
lab.send(segment(port, "A", seq, fin[TCP].seq + 1))
pause()  # FIN_WAIT_2
lab.send(segment(port, "FA", seq, fin[TCP].seq + 1))
wait_for(port, "A")
pause()  # TIME_WAIT

# 3. Both close at once: FIN_WAIT_1 -> CLOSING -> TIME_WAIT.
port = lab.new_port()
seq, ack = handshake(port, 3000)
lab.app_close(port)
fin = wait_for(port, "FA")
pause()  # FIN_WAIT_1 again
lab.send(segment(port, "FA", seq, fin[TCP].seq))  # our FIN does not acknowledge theirs
wait_for(port, "A")
pause()  # CLOSING
lab.send(segment(port, "A", seq + 1, fin[TCP].seq + 1))
pause()  # TIME_WAIT

# 4. The kernel connects to us: SYN_SENT, then we refuse, as a closed port would: CLOSED.
port = lab.new_port()
lab.app_connect(port)
syn = wait_for(port, "S")
pause()  # SYN_SENT
lab.send(
    IP(dst=lab.dst) / TCP(sport=port, dport=syn[TCP].sport, flags="RA", seq=0, ack=syn[TCP].seq + 1)
)
pause()  # CLOSED (connect() fails with ECONNREFUSED)
