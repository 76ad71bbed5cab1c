"""Shared fixtures: real PostgreSQL databases cloned from a migrated template, real HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from onboard360.db.embedded import to_sqlalchemy_url
from onboard360.db.migrate import upgrade
from tests.pgbouncer import running_pgbouncer
from tests.stack import Stack, running_stack

# The machine's PostgreSQL (trust auth). Point elsewhere with ONBOARD360_TEST_ADMIN_URL.
ADMIN_URL = os.environ.get("ONBOARD360_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _url_for(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


def _drop(name: str) -> None:
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """One migrated template per test process (xdist worker); dropped at the end."""
    name = f"o360_tpl_{uuid.uuid4().hex[:12]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        upgrade(to_sqlalchemy_url(_url_for(name)))
        yield name
    finally:
        _drop(name)


@pytest.fixture
def database_url(template_database: str) -> Iterator[str]:
    """A fresh database for one test, cloned from the migrated template (SQLAlchemy URL)."""
    name = f"o360_t_{uuid.uuid4().hex[:12]}"
    _admin(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template_database)
        )
    )
    try:
        yield to_sqlalchemy_url(_url_for(name))
    finally:
        _drop(name)


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    """The service, the sandbox and a product sink on the test's database (tests/stack.py);
    a module that needs other settings defines its own ``stack``."""
    with running_stack(database_url) as s:
        yield s


@pytest.fixture(scope="session")
def pgbouncer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Debian's PgBouncer in transaction mode in front of ADMIN_URL's server: its port."""
    with running_pgbouncer(tmp_path_factory.mktemp("pgbouncer"), ADMIN_URL) as port:
        yield port
