"""Run ASGI apps on real sockets: in the foreground (CLI) or in a thread (tests, partner CI)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp


def freeze_startup_objects() -> None:
    """Take every object alive now out of the garbage collector's sight, for good.

    The imported modules and the built app (~150k objects) live as long as the process;
    without this each full collection walks them all, a 100-170 ms pause in the middle of
    requests under load (bench/README.md). Call once, before serving; not in tests, where
    many apps come and go in one process.
    """
    gc.collect()
    gc.freeze()


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
        # uvicorn's own handlers would bypass our JSON renderer and secret redaction
        # (onboard360.runtime.logging): its records go to the root logger like everyone's.
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


class _SharedSignals(uvicorn.Server):
    """A server that leaves SIGINT/SIGTERM to ``serve_all``, which stops every site at once.

    uvicorn's own handlers chain one server to the next and re-raise the signal when done,
    so with several servers in one loop a Ctrl-C ends them one by one and finally lands in
    asyncio's runner as a KeyboardInterrupt in the middle of the lifespans: tracebacks.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_all(
    sites: Sequence[Site],
    log_level: str = "warning",
    on_started: Callable[[], None] | None = None,
) -> None:
    """Serve several apps in one event loop until SIGINT or SIGTERM, then stop them all
    gracefully and return (a second Ctrl-C stops without waiting for open connections).

    ``on_started`` is called once every site listens (e.g. to print the URL to open).
    """
    servers = [_SharedSignals(server_for(site, log_level).config) for site in sites]

    def stop() -> None:
        for server in servers:
            server.force_exit = server.should_exit
            server.should_exit = True

    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
            handled.append(signum)
    watchers = [_when_started(servers, on_started)] if on_started else []
    try:
        await asyncio.gather(*(server.serve() for server in servers), *watchers)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


async def _when_started(servers: Sequence[uvicorn.Server], then: Callable[[], None]) -> None:
    while not all(server.started for server in servers):
        if any(server.should_exit for server in servers):
            return
        await asyncio.sleep(0.02)
    then()


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` can be listened on now (like uvicorn: TIME_WAIT does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, for a server another process will start.

    Racy by nature (someone may take it before the server binds): picked at random below
    the kernel's ephemeral range, so at least outgoing connections never hold it. A server
    in this process should use ``running`` without a port, which binds before it serves.
    """
    for _ in range(200):
        port = _RANDOM.randrange(_PICK_LOW, _PICK_HIGH)
        if port_is_free(host, port):
            return port
    raise RuntimeError(f"no free port on {host} in {_PICK_LOW}-{_PICK_HIGH}")


# Below Linux's default ephemeral range (32768-60999), above most well-known services.
_PICK_LOW, _PICK_HIGH = 20000, 32000
# Not the module's generator: a test plugin may seed that the same in every worker.
_RANDOM = random.SystemRandom()


def _bound_socket(host: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextlib.contextmanager
def running(app: ASGIApp, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Serve ``app`` over real HTTP in a background thread; yields its base URL.

    Without ``port`` the socket is bound here, before the thread starts: no other process
    can take the port between choosing and listening.
    """
    sock = _bound_socket(host) if port is None else None
    site = Site(app, host, port if sock is None else int(sock.getsockname()[1]))
    server = server_for(site)
    server.config.install_signal_handlers = False  # type: ignore[attr-defined]
    sockets = None if sock is None else [sock]
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": sockets}, name=f"uvicorn:{site.port}", daemon=True
    )
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
        if sock is not None:
            sock.close()


@contextlib.contextmanager
def in_background(
    work: Callable[[], Coroutine[Any, Any, object]], name: str
) -> Iterator[threading.Thread]:
    """Run ``work()`` on its own event loop in a daemon thread until the block ends, then
    cancel it; yields the thread (alive while the work runs) and raises the work's failure.

    The loop is ``asyncio.run``'s: when the work ends, every task it left behind (a
    connection pool's workers, spawned but not yet started) is cancelled and awaited before
    the loop closes. A bare ``run_until_complete`` + ``close`` strands them, and Python
    later reports each unstarted coroutine as never awaited, in whatever test runs then.
    """
    started = threading.Event()
    handle: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []
    failure: list[BaseException] = []

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        handle.append((asyncio.get_running_loop(), task))
        started.set()
        await work()

    def run() -> None:
        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # raised in the caller's thread
            failure.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    started.wait()
    try:
        yield thread
    finally:
        if handle and thread.is_alive():
            loop, task = handle[0]
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=15)
    if failure:
        raise failure[0]
