"""The sampler's cheaper read of the socket table (bound_inactive=False) against the full one, on the
real kernel: the same rows, less only sockets that are bound but neither listening nor connected;
and the lab checker's sampler records the same states for a connection reset while its socket
stays bound (the one kind of row the cheaper read leaves out)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tcplab.model.state import State
from tcplab.netns.diag import SocketRow, SocketTable
from tcplab.netns.enter import create_netns, inside
from tests.conftest import unique_names

pytestmark = pytest.mark.netns


@pytest.fixture
def ns() -> Iterator[str]:
    name = unique_names()[1]
    create_netns(name, own_table=True)
    try:
        with inside(name):
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def key(r: SocketRow) -> tuple[object, ...]:
    return (r.state, r.linux_state, r.src, r.sport, r.dst, r.dport, r.timer, r.rqueue)


def test_cheaper_read_leaves_out_only_bound_inactive_sockets(ns: str) -> None:
    held: list[socket.socket] = []
    with inside(ns):
        idle = socket.socket()
        idle.bind(("127.0.0.1", 5555))  # bound, neither listening nor connected
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 7788))
        listener.listen()
        client = socket.socket()
        client.connect(("127.0.0.1", 7788))
        child, _ = listener.accept()
        waiting = socket.socket()
        waiting.connect(("127.0.0.1", 7788))  # in the accept queue
        closing = socket.socket()
        closing.connect(("127.0.0.1", 7788))
        closing.close()  # FIN_WAIT_2 on one side, CLOSE_WAIT on the other
        held += [idle, listener, client, child, waiting]
    try:
        with SocketTable(ns) as full, SocketTable(ns, bound_inactive=False) as cheap:
            for _ in range(50):  # a closing socket may move on between reads: one where none did
                fewer = sorted(map(key, cheap.rows()))
                every = sorted(map(key, full.rows()))
                if sorted(map(key, cheap.rows())) == fewer:
                    break
                time.sleep(0.01)
        left_out = [r for r in every if r not in fewer]
        assert all(r in every for r in fewer)
        assert left_out == [(State.CLOSED, 7, "127.0.0.1", 5555, "0.0.0.0", 0, "off", 0)]
        states = {r[1] for r in fewer}
        assert {1, 8, 10} <= states  # ESTABLISHED, CLOSE_WAIT, LISTEN all kept
        assert states & {4, 5}  # and the closing side: FIN_WAIT_1, or FIN_WAIT_2 once ACKed
    finally:
        for s in held:
            s.close()


def test_sampler_records_a_reset_bound_client_as_closed(ns: str) -> None:
    """A client socket bound to its port and reset by its peer stays bound in state CLOSED until
    its application closes it: the full read shows it, the cheaper one does not, and the checker's
    sampler records the same states either way (ESTABLISHED, then CLOSED when it leaves the
    connection table)."""
    from tcplab.exercise.checker import Sampler

    with inside(ns):
        peer = socket.socket()
        peer.bind(("127.0.0.1", 7000))
        peer.listen()
        client = socket.socket()
        client.bind(("127.0.0.1", 40000))
        client.connect(("127.0.0.1", 7000))
        child, _ = peer.accept()
    spec = SimpleNamespace(kernel=ns, crafting_addr="127.0.0.1")  # all the sampler reads of it
    sampler = Sampler(spec, set())  # type: ignore[arg-type]
    sampler.start()
    try:
        time.sleep(0.05)
        child.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        child.close()  # RST: the client is CLOSED and still bound
        time.sleep(0.05)
        with SocketTable(ns) as full, SocketTable(ns, bound_inactive=False) as cheap:
            mine = [r for r in full.rows() if (r.sport, r.dport) == (40000, 7000)]
            assert [r.state for r in mine] == [State.CLOSED]
            assert not [r for r in cheap.rows() if r.sport == 40000]
    finally:
        sampler.stop.set()
        sampler.join()
        client.close()
        peer.close()
    assert sampler.error is None
    assert [s.state for s in sampler.history[(7000, 40000)]] == [State.ESTABLISHED, State.CLOSED]


def test_rows_read_again_are_the_same_and_a_change_is_seen(ns: str) -> None:
    """An unchanged socket's row is given again (the same frozen object); a changed one is new."""
    with inside(ns):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 7788))
        listener.listen()
    try:
        with SocketTable(ns, bound_inactive=False) as table:
            (first,) = table.rows()
            (again,) = table.rows()
            assert again is first and first.rqueue == 0
            with inside(ns):
                client = socket.socket()
                client.connect(("127.0.0.1", 7788))  # waits in the accept queue: Recv-Q 1
            listening = [r for r in table.rows() if r.state is State.LISTEN]
            assert [r.rqueue for r in listening] == [1]
            client.close()
    finally:
        listener.close()
