"""procrastinate's psycopg connector, set up for the way the database is reached.

Jobs are fetched and finished through the pool on ``database_url``; the one connection
that ``LISTEN``s for new jobs may go to another URL, because a LISTEN through a pooler in
transaction mode is never heard (db/pooling.py). Without a URL to listen on, the worker
does not listen and polls instead (worker/runner.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import procrastinate
import psycopg

from onboard360.config.settings import Settings
from onboard360.db.embedded import to_libpq_uri
from onboard360.db.pooling import listen_conninfo, psycopg_kwargs

POOL_WAIT_SECONDS = 3


class Connector(procrastinate.PsycopgConnector):
    """A PsycopgConnector whose LISTEN connection opens ``listen_to``."""

    def __init__(self, conninfo: str, listen_to: str | None, settings: Settings) -> None:
        self.connect_kwargs = psycopg_kwargs(settings)
        super().__init__(
            conninfo=conninfo,
            # A connection that cannot be had within seconds means the database is away:
            # fail the fetch so the worker notices it (worker/runner.py) instead of waiting
            # psycopg_pool's default 30 s.
            timeout=POOL_WAIT_SECONDS,
            kwargs={**self.connect_kwargs, "connect_timeout": POOL_WAIT_SECONDS},
        )
        self.listen_to = listen_to

    @contextlib.asynccontextmanager
    async def _get_standalone_connection(self) -> AsyncGenerator[psycopg.AsyncConnection]:
        # procrastinate 3.10 (pinned) opens its LISTEN connection only here.
        if self.listen_to is None:
            raise RuntimeError("this worker polls: it has no URL to LISTEN on")
        async with await psycopg.AsyncConnection.connect(
            self.listen_to, **self.connect_kwargs, autocommit=True
        ) as connection:
            yield connection


def connector_for(settings: Settings, database_url: str) -> Connector:
    return Connector(to_libpq_uri(database_url), listen_conninfo(settings, database_url), settings)
