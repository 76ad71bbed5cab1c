"""What changes when the database is reached through a pooler in transaction mode.

Managed PostgreSQL is often behind PgBouncer with ``pool_mode = transaction``: each
transaction may run on another server connection, so nothing may outlive a transaction.
onboard360 keeps no session state (no ``SET``, no temporary tables, no cursors held across
transactions; the sync lock is transaction-scoped, jobs/checkpoints.py) except two:

- psycopg prepares a statement on a connection after its fifth execution and reuses it
  by name. PgBouncer tracks prepared statements only from 1.21 on, with
  ``max_prepared_statements`` set (Debian 12 ships 1.18): before that the next
  transaction lands on a server connection where the name does not exist. In transaction
  mode onboard360 never prepares (``prepare_threshold=None``), whatever PgBouncer's
  version; every statement is still sent with the extended protocol and bound parameters.
- procrastinate's workers ``LISTEN`` for new jobs on a connection of their own. Through a
  transaction pooler the LISTEN stays on a server connection nobody reads: workers listen
  on ``database_listen_url`` (direct or session mode) when it is set, and otherwise only
  poll (worker/runner.py's interval), never LISTEN through the pooler.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from onboard360.config.settings import Settings
from onboard360.db.embedded import to_libpq_uri, to_sqlalchemy_url

# Never prepare: safe through any pooler; for the one-off commands (migrate, startup
# checks) always, since their few statements gain nothing from it.
NO_PREPARE: dict[str, Any] = {"prepare_threshold": None}


def psycopg_kwargs(settings: Settings) -> dict[str, Any]:
    """Connection keyword arguments for psycopg (and SQLAlchemy's connect_args)."""
    return dict(NO_PREPARE) if settings.database_pool_mode == "transaction" else {}


def listen_conninfo(settings: Settings, database_url: str) -> str | None:
    """The libpq URI workers LISTEN on, or None when they must poll instead."""
    if settings.database_listen_url is not None:
        return to_libpq_uri(to_sqlalchemy_url(str(settings.database_listen_url)))
    if settings.database_pool_mode == "transaction":
        return None
    return to_libpq_uri(database_url)


def one_off_engine(url: str, **connect_args: Any) -> Engine:
    """An engine for one short piece of work (a start-up check, a migration): a connection
    only while it is used, nothing prepared (safe through any pooler), and no SQL
    parameters in its errors (they may hold personal data)."""
    return create_engine(
        url,
        poolclass=pool.NullPool,
        connect_args={**NO_PREPARE, **connect_args},
        hide_parameters=True,
    )


def one_off_async_engine(url: str) -> AsyncEngine:
    """``one_off_engine`` for async work (an operator command)."""
    return create_async_engine(
        url, poolclass=pool.NullPool, connect_args=dict(NO_PREPARE), hide_parameters=True
    )


def service_engine(settings: Settings, url: str) -> AsyncEngine:
    """The service's pooled engine: as many connections as ``database_pool_size`` (and as
    many again in bursts), checked before use, prepared statements only where the pool
    mode allows (``psycopg_kwargs``), and no SQL parameters in its errors."""
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        connect_args=psycopg_kwargs(settings),
        # A failed statement is logged with its SQL; its values may be personal data.
        hide_parameters=True,
    )
