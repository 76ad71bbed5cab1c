"""Re-encrypt every stored API key under the primary encryption key, with no downtime.

The procedure (docs/deployment.md, "Rotating secrets"): put the new key first in
``encryption_keys`` on every process and roll out (all of them can now read both and
write with the new one), run ``onboard360 rotate-encryption-key``, then drop the old key.

How it stays out of the way of running web and worker processes:

- rows are read in id order, ``batch_size`` at a time, without locks; only the rows the
  primary key cannot read (``Keyring.needs_rotation``) are then locked, with
  ``FOR UPDATE SKIP LOCKED``, re-checked, re-encrypted and written — each batch in its
  own short transaction, so nothing waits long on us and a crash loses one batch at most;
- a row locked by someone else at that moment is skipped and retried at the end, then
  waiting for its lock;
- rows already under the primary key are left alone: running it again, or after an
  interruption, finishes the job and changes nothing else.

A row that no configured key can read is left as it is and reported by id, hub and
channel (never its ciphertext): add the key that wrote it and run again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from onboard360.runtime.crypto import Keyring, KeyringError

DEFAULT_BATCH_SIZE = 500

_PAGE = text("SELECT id, ciphertext FROM api_keys WHERE id > :after ORDER BY id LIMIT :limit")
_LOCK = "SELECT id, hub, channel_id, ciphertext FROM api_keys WHERE id = ANY(:ids) ORDER BY id "
_LOCK_SKIPPING = text(_LOCK + "FOR UPDATE SKIP LOCKED")
_LOCK_WAITING = text(_LOCK + "FOR UPDATE")
_WRITE = text("UPDATE api_keys SET ciphertext = :ciphertext WHERE id = :row_id").bindparams(
    bindparam("row_id"), bindparam("ciphertext")
)


@dataclass(frozen=True)
class Unreadable:
    id: int
    hub: str
    channel_id: str

    def __str__(self) -> str:
        return f"#{self.id} ({self.hub}/{self.channel_id})"


@dataclass
class ReencryptReport:
    primary: str  # the primary key's fingerprint, never the key
    checked: int = 0
    reencrypted: int = 0
    already_current: int = 0
    unreadable: list[Unreadable] = field(default_factory=list)


Progress = Callable[[ReencryptReport], None]


async def reencrypt_api_keys(
    engine: AsyncEngine,
    keyring: Keyring,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> ReencryptReport:
    report = ReencryptReport(keyring.fingerprint)
    after = 0
    busy: list[int] = []
    while True:
        async with engine.connect() as conn:
            rows = list(await conn.execute(_PAGE, {"after": after, "limit": batch_size}))
        if not rows:
            break
        after = rows[-1].id
        stale = [row.id for row in rows if keyring.needs_rotation(bytes(row.ciphertext))]
        report.checked += len(rows)
        report.already_current += len(rows) - len(stale)
        if stale:
            busy += await rotate_rows(engine, keyring, stale, report, skip_locked=True)
        if progress is not None:
            progress(report)
    for start in range(0, len(busy), batch_size):
        await rotate_rows(engine, keyring, busy[start : start + batch_size], report)
    return report


async def rotate_rows(
    engine: AsyncEngine,
    keyring: Keyring,
    ids: Sequence[int],
    report: ReencryptReport,
    *,
    skip_locked: bool = False,
) -> list[int]:
    """Lock ``ids``, re-encrypt those still stale, commit; answers the ids skipped as busy."""
    async with engine.begin() as conn:
        locked = list(
            await conn.execute(_LOCK_SKIPPING if skip_locked else _LOCK_WAITING, {"ids": ids})
        )
        updates = []
        for row in locked:
            token = bytes(row.ciphertext)
            if not keyring.needs_rotation(token):  # someone wrote it anew meanwhile
                report.already_current += 1
                continue
            try:
                rotated = keyring.rotate(token)
            except KeyringError:
                report.unreadable.append(Unreadable(row.id, row.hub, row.channel_id))
                continue
            updates.append({"row_id": row.id, "ciphertext": rotated})
        if updates:
            await conn.execute(_WRITE, updates)
        report.reencrypted += len(updates)
    seen = {row.id for row in locked}
    return [row_id for row_id in ids if row_id not in seen]
