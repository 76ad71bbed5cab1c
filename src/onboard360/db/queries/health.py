"""What readiness asks the database: which migration it carries."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_REVISION = text("SELECT version_num FROM alembic_version")


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database is at (raises when it cannot be asked)."""
    async with engine.connect() as conn:
        revision: str | None = await conn.scalar(_REVISION)
    return revision
