"""Adapters to the wire: model segments to frames and back (scapy), sending, capturing, pcap.

The only package that imports scapy.
"""
