"""Writing a capture as a pcap file (Ethernet link type) that Wireshark and tcpdump read."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from scapy.utils import RawPcapWriter

from tcplab.wire.capture import Frame


def write_pcap(path: str | Path, frames: Iterable[Frame]) -> None:
    writer = RawPcapWriter(str(path), linktype=1, sync=False, nano=True)
    try:
        writer.write_header(None)
        for fr in frames:
            sec = int(fr.time)
            writer.write_packet(fr.data, sec=sec, usec=int(round((fr.time - sec) * 1e9)))
    finally:
        writer.close()
