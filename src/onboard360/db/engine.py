"""Where the database is: the configured server, or the embedded one."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from onboard360.config.settings import Settings
from onboard360.db.embedded import start_embedded, to_sqlalchemy_url
from onboard360.db.migrate import known_revisions, upgrade
from onboard360.db.pooling import one_off_engine


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL to use.

    With no URL configured, the embedded server is started and migrated: the embedded
    default must work with no separate `onboard360 migrate` step. A configured server is
    migrated only by `onboard360 migrate`, so several hosts never race to migrate.
    """
    if settings.database_url is None:
        url = start_embedded(settings.data_dir)
        upgrade(url)
        return url
    return to_sqlalchemy_url(str(settings.database_url))


def describe_database_error(exc: Exception, url: str) -> str:
    """One line for a person: where we tried to connect, never the password."""
    where = make_url(url).render_as_string(hide_password=True)
    if isinstance(exc, OperationalError):
        return f"cannot connect to the database at {where}: is it running and reachable?"
    return f"database error ({type(exc).__name__}) at {where}"


class DatabaseNotReady(Exception):
    """The database cannot be used by this version (unreachable, or not migrated)."""


class DatabaseUnreachable(DatabaseNotReady):
    """No answer from the server (down, restarting, failing over): worth waiting for."""


def _refused_us(exc: Exception) -> bool:
    """The server answered and refused: wrong credentials (28…) or no such database."""
    state = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
    return state.startswith("28") or state == "3D000"


def check_database(url: str, timeout_seconds: int = 5) -> None:
    """Connect once and compare the schema with this code's migrations, or raise
    DatabaseNotReady with one line for a person (never the password).

    A revision this code does not know is accepted: a newer version migrated the database
    and this one is being rolled back or is still rolling out.
    """
    engine = one_off_engine(url, connect_timeout=timeout_seconds)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:
        error = DatabaseNotReady
        if isinstance(exc, OperationalError) and not _refused_us(exc):
            error = DatabaseUnreachable
        raise error(describe_database_error(exc, url)) from None
    finally:
        engine.dispose()
    head, known = known_revisions()
    where = make_url(url).render_as_string(hide_password=True)
    if current is None:
        raise DatabaseNotReady(
            f"the database at {where} has no schema yet: run `onboard360 migrate`"
        )
    if current != head and current in known:
        raise DatabaseNotReady(
            f"the database at {where} is at migration {current}, this version needs {head}: "
            "run `onboard360 migrate`"
        )
