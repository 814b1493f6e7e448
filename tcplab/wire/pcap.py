"""Writing a capture as a pcap file (Ethernet link type) that Wireshark and tcpdump read.

The file is opened without following a symlink or blocking on a FIFO, and only a regular file is
written (tcplab.userfile); callers check the path before anything is sent, so a refusal here means
the path changed during the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tcplab.errors import EnvironmentProblem
from tcplab.userfile import Refused, open_output
from tcplab.wire.capture import Frame
from tcplab.wire.packet import quiet_scapy


def write_pcap(path: str | Path, frames: Iterable[Frame]) -> None:
    try:
        out = open_output(str(path))
    except Refused as exc:
        raise EnvironmentProblem(
            f"cannot write the capture {exc}", "name a regular file in a folder you can write to"
        ) from None
    quiet_scapy()
    from scapy.utils import RawPcapWriter

    writer = RawPcapWriter(out, linktype=1, sync=False, nano=True)
    try:
        writer.write_header(None)
        for fr in frames:
            sec = int(fr.time)
            writer.write_packet(fr.data, sec=sec, usec=int(round((fr.time - sec) * 1e9)))
    finally:
        writer.close()
