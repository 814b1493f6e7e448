"""Adapters to the kernel's namespaces: building testbeds, entering namespaces, reading sock_diag.

The only package that imports pyroute2 or runs nft.
"""
