"""Operators' dashboard sessions: log in, log out, and the live session of a cookie.

Only the token's sha256 is stored; the token itself lives in the operator's cookie. A
session ends after SESSION_LIFETIME, after IDLE_TIMEOUT without a request, or as soon as
its operator is disabled.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from onboard360.db import tables as t
from onboard360.services.accounts import Operator
from onboard360.services.audit import audit

SESSION_LIFETIME = timedelta(hours=12)
IDLE_TIMEOUT = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=1)  # write last_seen_at at most this often


@dataclass(frozen=True)
class Session:
    operator_id: int
    email: str
    csrf_token: str


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def log_in(engine: AsyncEngine, operator: Operator) -> tuple[str, Session]:
    """A new session for an authenticated operator (audited); its token, for the cookie."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            t.operator_sessions.insert().values(
                id=token_digest(token),
                operator_id=operator.id,
                csrf_token=csrf,
                expires_at=datetime.now(UTC) + SESSION_LIFETIME,
            )
        )
        await audit(conn, operator.id, "login", f"operator:{operator.email}", {})
    return token, Session(operator.id, operator.email, csrf)


async def log_out(engine: AsyncEngine, token: str, session: Session) -> None:
    """End the cookie's session (audited)."""
    async with engine.begin() as conn:
        await conn.execute(
            t.operator_sessions.delete().where(t.operator_sessions.c.id == token_digest(token))
        )
        await audit(conn, session.operator_id, "logout", f"operator:{session.email}", {})


async def live_session(engine: AsyncEngine, token: str) -> Session | None:
    """The token's live session (its last-seen time kept fresh), or None."""
    now = datetime.now(UTC)
    s, o = t.operator_sessions, t.operators
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(s.c.id, s.c.csrf_token, s.c.last_seen_at, o.c.id.label("operator_id"))
                .add_columns(o.c.email)
                .join(o, o.c.id == s.c.operator_id)
                .where(
                    s.c.id == token_digest(token),
                    s.c.expires_at > now,
                    s.c.last_seen_at > now - IDLE_TIMEOUT,
                    o.c.disabled.is_(False),
                )
            )
        ).first()
        if row is None:
            return None
        if row.last_seen_at < now - TOUCH_EVERY:
            await conn.execute(s.update().where(s.c.id == row.id).values(last_seen_at=func.now()))
    return Session(row.operator_id, row.email, row.csrf_token)
