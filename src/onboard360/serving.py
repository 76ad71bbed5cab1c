"""Run ASGI apps on real sockets: in the foreground (CLI) or in a thread (tests, partner CI)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


@dataclass(frozen=True)
class Site:
    app: ASGIApp
    host: str
    port: int


def server_for(site: Site, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        site.app,
        host=site.host,
        port=site.port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


async def serve_all(sites: Sequence[Site], log_level: str = "warning") -> None:
    """Serve several apps in one event loop until interrupted."""
    servers = [server_for(site, log_level) for site in sites]
    await asyncio.gather(*(server.serve() for server in servers))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(app: ASGIApp, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Serve ``app`` over real HTTP in a background thread; yields its base URL."""
    site = Site(app, host, port or free_port(host))
    server = server_for(site)
    server.config.install_signal_handlers = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.run, name=f"uvicorn:{site.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on port {site.port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{site.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
