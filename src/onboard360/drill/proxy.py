"""A minimal TCP round-robin balancer in front of the web processes.

The service's public URL (the hubs' webhook and redirect URLs, the product's API base)
points here, as it would point at a load balancer in production. Each new connection
goes to the next web process that accepts a TCP connection; a process that is down is
skipped. A connection whose process is SIGKILLed mid-request is cut, exactly as a real
balancer would cut it: the sender (the sandbox's webhook retry, the drill's client)
must cope.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

CONNECT_TIMEOUT = 1.0
CHUNK = 64 * 1024


@dataclass
class RoundRobin:
    host: str
    port: int
    backends: Sequence[tuple[str, int]]
    connections: int = 0
    refused: int = 0  # connections no web process would take
    per_backend: dict[int, int] = field(default_factory=dict)
    _next: int = 0
    _server: asyncio.Server | None = None
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            host, port = self.backends[self._next % len(self.backends)]
            self._next += 1
            try:
                streams = await asyncio.wait_for(
                    asyncio.open_connection(host, port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                continue
            self.per_backend[port] = self.per_backend.get(port, 0) + 1
            return streams
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream = await self._connect()
        if upstream is None:
            self.refused += 1
            writer.close()
            return
        up_reader, up_writer = upstream
        task = asyncio.current_task()
        if task is not None:
            self._pipes.add(task)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            if task is not None:
                self._pipes.discard(task)
            for each in (writer, up_writer):
                each.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until EOF or a reset; then close the sink so the other side learns it too."""
    try:
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            sink.close()
