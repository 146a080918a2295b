"""The listening socket every ingest worker binds on the shared collect port."""

from __future__ import annotations

import socket

__all__ = ["bind_socket"]


def bind_socket(host: str, port: int, backlog: int = 4096) -> socket.socket:
    """A listening socket that other workers may bind too (SO_REUSEPORT): the kernel balances between them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock
