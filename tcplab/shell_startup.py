# Run by `tcplab shell` when the interactive interpreter starts (PYTHONSTARTUP), inside ns1.
from scapy.all import *  # noqa: F403

from tcplab.i18n import _, speak_from_environment
from tcplab.student import Lab

speak_from_environment()  # the language of the `tcplab shell` that started this prompt
lab = Lab()
print(
    _(
        "tcplab shell: you are the crafting host {src} in its namespace; the kernel host is "
        "{dst}, its application listens on port {dport}."
    ).format(src=lab.src, dst=lab.dst, dport=lab.dport)
    + "\n  lab.sr(IP(dst=lab.dst)/TCP(sport=lab.sport, dport=lab.dport, flags='S', seq=1000))\n"
    + "  lab.send(pkt), lab.expect(timeout=1), lab.app_close(), lab.app_send('hi'), "
    + _("help(lab) for more")
)
