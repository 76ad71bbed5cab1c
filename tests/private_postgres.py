"""A PostgreSQL of the test's own, to stop and start under a running service.

Never the machine's shared server (other tests and helpers use it): drill/postgres.py
starts one in a temporary directory on a free port.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from onboard360.db.embedded import ensure_database, to_sqlalchemy_url
from onboard360.db.migrate import upgrade
from onboard360.drill.postgres import PrivatePostgres


@contextlib.contextmanager
def private_database() -> Iterator[tuple[PrivatePostgres, str]]:
    """The server and a migrated database on it (SQLAlchemy URL)."""
    with PrivatePostgres() as server:
        ensure_database(server.url(), "onboard360")
        url = to_sqlalchemy_url(server.url("onboard360"))
        upgrade(url)
        yield server, url
