"""Lab 8: a tour of the eleven TCP states. Fill in the TODOs, then: tcplab lab check state-tour

Four connections, each ending in a different way. After every step, pause() so that tcplab can read
the kernel's socket table while it is in the state you just drove it into.
"""

import time

from scapy.all import IP, TCP

from tcplab.student import Lab

lab = Lab()
PAUSE = 0.05  # long enough for tcplab to read the kernel's socket table in each state


def pause():
    time.sleep(PAUSE)


def segment(port, flags, seq, ack=0):
    """A segment from our `port` to the application's port (lab.dport)."""
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
    """The kernel's next segment to our `port` with exactly these flags (e.g. "A", "FA", "S")."""
    got = lab.expect(timeout=2, flags=flags, port=port)
    if got is None:
        raise SystemExit(f"port {port}: no {flags} from the kernel")
    return got


# 1. We close first: the kernel goes CLOSE_WAIT -> LAST_ACK -> CLOSED.
port = lab.sport
seq, ack = handshake(port, 1000)
# TODO: send your FIN (flags "FA": which seq, which ack?); wait_for(port, "A"), the
#       kernel's ACK of it (it may come a few ms later); pause()         (CLOSE_WAIT)
# TODO: lab.app_close(port): the application closes; wait for its FIN, pause() (LAST_ACK)
# TODO: acknowledge the kernel's FIN. Which seq? Which ack? pause()      (CLOSED)

# 2. The kernel closes first: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT.
port = lab.new_port()
seq, ack = handshake(port, 2000)
# TODO: lab.app_close(port), wait for the kernel's FIN, pause()          (FIN_WAIT_1)
# TODO: acknowledge its FIN, but send no FIN of yours yet, pause()       (FIN_WAIT_2)
# TODO: send your FIN, wait for the kernel's ACK, pause()                (TIME_WAIT)

# 3. Both close at once: FIN_WAIT_1 -> CLOSING -> TIME_WAIT.
port = lab.new_port()
seq, ack = handshake(port, 3000)
# TODO: lab.app_close(port), wait for the kernel's FIN, pause()          (FIN_WAIT_1)
# TODO: send your FIN as if it had crossed the kernel's on the wire: it must not
#       acknowledge the kernel's FIN. Wait for the kernel's ACK, pause() (CLOSING)
# TODO: now acknowledge the kernel's FIN, pause()                        (TIME_WAIT)

# 4. The kernel connects to us: SYN_SENT; we refuse, as a closed port would: CLOSED.
port = lab.new_port()
# TODO: lab.app_connect(port), wait for the kernel's SYN, pause()        (SYN_SENT)
# TODO: refuse it with a RST+ACK. To which port? Which seq, which ack? pause()  (CLOSED)
