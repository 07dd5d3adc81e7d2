"""`melt-study serve`'s listening socket."""

from __future__ import annotations

import asyncio
import socket

from melt.study.cli import listening_socket


def test_accepted_connections_have_nagle_off():
    """Regression: a socket made without IPPROTO_TCP made asyncio skip TCP_NODELAY on accepted connections, so
    every keep-alive response of the app waited for a delayed ACK."""
    async def main() -> int:
        seen: asyncio.Future = asyncio.get_running_loop().create_future()

        def accepted(reader, writer):
            seen.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listening_socket("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        nodelay = await asyncio.wait_for(seen, 10)
        writer.close()
        server.close()
        return nodelay

    assert asyncio.run(main()) == 1
