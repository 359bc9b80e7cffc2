"""Traffic between the namespaces a test made, through the fabric under test."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from ctrl.platform import netns


def udp_exchange(src_ns: str, dst_ns: str, dst_ip: str, timeout: float = 3.0) -> bool:
    """A datagram from src to dst and an answer back, through the fabric, tried again
    every 0.3 s until `timeout` (the fabric may still be converging)."""
    with netns.in_netns(dst_ns):
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with netns.in_netns(src_ns):
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with server, client:
        server.bind((dst_ip, 7007))
        server.settimeout(min(0.3, timeout))
        client.settimeout(min(0.3, timeout))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client.sendto(b"ping", (dst_ip, 7007))
            try:
                data, peer = server.recvfrom(100)
                server.sendto(data.upper(), peer)
                return client.recv(100) == b"PING"
            except TimeoutError:
                continue
    return False


@contextlib.contextmanager
def tcp_pair(client_ns: str, server_ns: str, server_ip: str, port: int
             ) -> Iterator[tuple[socket.socket, socket.socket]]:
    """A TCP connection from a namespace to another: (the client's end, the server's),
    the server's with a 5 s timeout; both closed afterwards."""
    with netns.in_netns(server_ns):
        listener = socket.create_server((server_ip, port))
    with netns.in_netns(client_ns):
        conn = socket.create_connection((server_ip, port), timeout=5)
    peer, _ = listener.accept()
    with listener, conn, peer:
        peer.settimeout(5)
        yield conn, peer
