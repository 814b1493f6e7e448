# Run by `tcplab shell` when the interactive interpreter starts (PYTHONSTARTUP), inside ns1.
from scapy.all import *  # noqa: F403

from tcplab.student import Lab

lab = Lab()
print(
    f"tcplab shell: you are the crafting host {lab.src} in its namespace; the kernel host is "
    f"{lab.dst}, its application listens on port {lab.dport}.\n"
    f"  lab.sr(IP(dst=lab.dst)/TCP(sport=lab.sport, dport=lab.dport, flags='S', seq=1000))\n"
    f"  lab.send(pkt), lab.expect(timeout=1), lab.app_close(), lab.app_send('hi'), "
    f"help(lab) for more"
)
