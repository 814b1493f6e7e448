"""tcplab.netns.rtnl answers as pyroute2's IPRoute does (read-only questions, no root needed:
the host namespace's own links, addresses and routes)."""

import socket

import pytest

from tcplab.netns import rtnl

pyroute2 = pytest.importorskip("pyroute2")


def _links(ipr):
    rows = [
        (m.get("IFLA_IFNAME"), m["index"], m.get("state"), m.get("IFLA_ADDRESS"))
        for m in ipr.get_links()
    ]
    return sorted(rows, key=repr)


def _addrs(ipr, family):
    rows = [(m["index"], m.get("IFA_ADDRESS"), m["prefixlen"]) for m in ipr.get_addr(family=family)]
    return sorted(rows, key=repr)


def _routes(ipr, family, table):
    rows = [
        (m.get("RTA_DST"), m["dst_len"], m.get("RTA_OIF"))
        for m in ipr.get_routes(family=family, table=table)
    ]
    return sorted(rows, key=repr)


def test_links_addresses_and_routes_are_pyroute2s():
    with rtnl.IPRoute() as ours, pyroute2.IPRoute() as theirs:
        assert _links(ours) == _links(theirs)
        for family in (socket.AF_INET, socket.AF_INET6):
            assert _addrs(ours, family) == _addrs(theirs, family)
            for table in (254, 255):
                assert _routes(ours, family, table) == _routes(theirs, family, table)


def test_a_link_is_looked_up_by_name():
    with rtnl.IPRoute() as ours, pyroute2.IPRoute() as theirs:
        assert ours.link_lookup(ifname="lo") == theirs.link_lookup(ifname="lo") == [1]
        assert ours.link_lookup(ifname="no-such-link") == []
        lo = ours.get_links(1)[0]
        assert lo.get("state") == "up" and lo.get("IFLA_ADDRESS") == "00:00:00:00:00:00"
        assert [a.get("IFA_ADDRESS") for a in ours.get_addr(index=1, family=2)] == ["127.0.0.1"]
