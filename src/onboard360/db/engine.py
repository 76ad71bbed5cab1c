"""Where the database is: the configured server, or the embedded one."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine

from onboard360.config import Settings
from onboard360.db.embedded import start_embedded, to_sqlalchemy_url


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL to use, starting the embedded server when none is configured."""
    if settings.database_url is None:
        return start_embedded(settings.data_dir)
    return to_sqlalchemy_url(str(settings.database_url))


def make_engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
