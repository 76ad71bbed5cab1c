"""Operator accounts: created by the CLI, checked at login, locked after repeated failures.

Each command (create, set a password, disable) owns its transaction and its audit row.

Passwords are hashed with argon2id (``argon2.PasswordHasher``). A login that fails for any
reason — unknown email, wrong password, disabled account, locked account — gets one and
the same answer, and costs one hash verification, so neither the words nor the timing
tell whether an email belongs to an operator.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onboard360.db import tables as t
from onboard360.services.audit import audit
from onboard360.services.refusals import AccountRefused
from onboard360.services.source import Source

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when there is no real hash to check: every refusal costs the same."""
    return _HASHER.hash("not a password anyone has: equalises the time of a refusal")


@dataclass(frozen=True)
class Operator:
    id: int
    email: str


def normalize_email(value: str) -> str:
    """The email as stored: trimmed and lower-cased; AccountRefused if it is not one."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise AccountRefused("that is not an email address")
    return email


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountRefused(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountRefused(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")


async def create_operator(
    engine: AsyncEngine, email: str, password: str, *, source: Source
) -> Operator:
    """A new operator, enabled; AccountRefused if the email is taken or the rules fail."""
    async with engine.begin() as conn:
        return await _create(conn, email, password, source)


async def _create(conn: AsyncConnection, email: str, password: str, source: Source) -> Operator:
    email = normalize_email(email)
    check_password_rules(password)
    exists = await conn.scalar(select(t.operators.c.id).where(t.operators.c.email == email))
    if exists is not None:
        raise AccountRefused(f"an operator with the email {email} exists already")
    new_id = await conn.scalar(
        t.operators.insert()
        .values(email=email, password_hash=await hash_password(password), disabled=False)
        .returning(t.operators.c.id)
    )
    await audit(conn, None, "operator_created", f"operator:{email}", {"by": str(source)})
    return Operator(int(new_id), email)


async def set_operator_password(
    engine: AsyncEngine, email: str, password: str, *, source: Source
) -> Operator:
    """Create the operator, or give the existing one this password: enabled, unlocked, its
    old sessions ended (the demo's account gets a new password on every start)."""
    async with engine.begin() as conn:
        return await _set_password(conn, email, password, source)


async def _set_password(
    conn: AsyncConnection, email: str, password: str, source: Source
) -> Operator:
    email = normalize_email(email)
    check_password_rules(password)
    existing = await conn.scalar(
        select(t.operators.c.id).where(t.operators.c.email == email).with_for_update()
    )
    if existing is None:
        return await _create(conn, email, password, source)
    await conn.execute(
        t.operators.update()
        .where(t.operators.c.id == existing)
        .values(
            password_hash=await hash_password(password),
            disabled=False,
            failed_attempts=0,
            locked_until=None,
        )
    )
    await conn.execute(
        t.operator_sessions.delete().where(t.operator_sessions.c.operator_id == existing)
    )
    await audit(conn, None, "operator_password_set", f"operator:{email}", {"by": str(source)})
    return Operator(int(existing), email)


async def list_operators(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                t.operators.c.id,
                t.operators.c.email,
                t.operators.c.disabled,
                t.operators.c.locked_until,
                t.operators.c.created_at,
            ).order_by(t.operators.c.email)
        )
        return list(rows)


async def disable_operator(engine: AsyncEngine, email: str, *, source: Source) -> bool:
    """Disable the account and end its sessions; False when it was disabled already."""
    async with engine.begin() as conn:
        return await _disable(conn, email, source)


async def _disable(conn: AsyncConnection, email: str, source: Source) -> bool:
    email = normalize_email(email)
    row = (
        await conn.execute(
            select(t.operators.c.id, t.operators.c.disabled)
            .where(t.operators.c.email == email)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise AccountRefused(f"there is no operator with the email {email}")
    await conn.execute(
        t.operator_sessions.delete().where(t.operator_sessions.c.operator_id == row.id)
    )
    if row.disabled:
        return False
    await conn.execute(t.operators.update().where(t.operators.c.id == row.id).values(disabled=True))
    await audit(conn, None, "operator_disabled", f"operator:{email}", {"by": str(source)})
    return True


async def authenticate(engine: AsyncEngine, email: str, password: str) -> Operator | None:
    """The operator these credentials belong to, or None (for any reason at all).

    Counts failures on the account; the fifth in a row locks it for ``LOCKOUT``. The
    password is checked (argon2: slow on purpose) holding no database connection and no
    lock: the account is read, the password checked, then the outcome written in a short
    transaction that re-reads the account — whatever changed meanwhile (disabled, locked,
    a new password) decides.
    """
    try:
        email = normalize_email(email)
    except AccountRefused:
        email = ""
    async with engine.connect() as conn:
        row = (await conn.execute(select(t.operators).where(t.operators.c.email == email))).first()
    usable = row is not None and _usable(row, datetime.now(UTC))
    checked = row.password_hash if usable and row is not None else None
    # Off the event loop, and outside any transaction (see above).
    matches = await asyncio.to_thread(_verify, checked, password)
    if row is None or not usable:
        return None
    new_hash = None
    if matches and _HASHER.check_needs_rehash(row.password_hash):
        new_hash = await hash_password(password)
    async with engine.begin() as conn:
        current = (
            await conn.execute(
                select(t.operators).where(t.operators.c.id == row.id).with_for_update()
            )
        ).first()
        now = datetime.now(UTC)
        if current is None or not _usable(current, now):
            return None
        if current.password_hash != row.password_hash:
            return None  # the password changed while this one was checked: try again
        if matches:
            values: dict[str, Any] = {"failed_attempts": 0, "locked_until": None}
            if new_hash is not None:
                values["password_hash"] = new_hash
            await conn.execute(
                t.operators.update().where(t.operators.c.id == row.id).values(values)
            )
            return Operator(current.id, current.email)
        failures = current.failed_attempts + 1
        lock = failures >= MAX_FAILED_LOGINS
        await conn.execute(
            t.operators.update()
            .where(t.operators.c.id == row.id)
            .values(
                failed_attempts=0 if lock else failures,
                locked_until=now + LOCKOUT if lock else None,
            )
        )
        await audit(
            conn, row.id, "login_locked" if lock else "login_failed", f"operator:{email}", {}
        )
    return None


def _usable(row: Any, now: datetime) -> bool:
    locked = row.locked_until is not None and row.locked_until > now
    return not row.disabled and not locked


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    """Does the password match? With no hash, one is checked anyway, and False answered."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
