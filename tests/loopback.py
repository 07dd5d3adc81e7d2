"""Run an ASGI app with uvicorn in a background thread on 127.0.0.1 (test servers only)."""

from __future__ import annotations

import threading
import time

import uvicorn


def serve_in_thread(app, port: int = 0, timeout_s: float = 10, **config) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Start the app; return the server, its thread and the bound port once it accepts connections."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"loopback server {type(app).__name__} did not start")
        time.sleep(0.01)
    return server, thread, server.servers[0].sockets[0].getsockname()[1]
