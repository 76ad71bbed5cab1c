"""Alembic, driven from code: `onboard360 migrate` and the embedded default's first start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from onboard360.db.pooling import one_off_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def known_revisions() -> tuple[str | None, set[str]]:
    """This code's head revision, and every revision it ships."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    return scripts.get_current_head(), {script.revision for script in scripts.walk_revisions()}


def current_revision(url: str) -> str | None:
    engine = one_off_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
