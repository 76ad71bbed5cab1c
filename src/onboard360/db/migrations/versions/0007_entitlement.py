"""Channels seen only through webhooks or sync are someone else's: say so on their rows.

Revision ID: 0007
Revises: 0006

From this version a key is generated only for a channel onboard360 is entitled to key
(docs/decisions/0006-entitlement.md). The entitlement lives in the channel's state; rows
written before decode it from what they prove (db/codec.py, ``_legacy_entitlement``).
This brings the ``blocker`` and ``reason`` columns the lists read in line with that
decoding for the rows that have none: no redirect or confirmation applied, no key ever
asked for, not terminated. One statement: it touches only unkeyed rows, a small part of
the table, and the lifecycle writes these columns again at the row's next change.
"""

from alembic import op
from sqlalchemy import text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# channel.NOT_ENTITLED_MESSAGE as this version wrote it (a migration is a snapshot).
_MESSAGE = (
    "not onboarded through onboard360: claim its client, import its key, or take it over "
    "(a new key would revoke the one its current integration uses)"
)


def upgrade() -> None:
    op.get_bind().execute(
        text(
            """
            UPDATE channels SET blocker = 'not_entitled', reason = :message
            WHERE key_status = 'none' AND key_intent = 0
              AND NOT (state ? 'entitlement')
              AND state->>'shared' IS NULL
              AND coalesce((state->>'permission_sequence')::int, 0) = 0
              AND blocker IS DISTINCT FROM 'terminated'
            """
        ),
        {"message": _MESSAGE},
    )


def downgrade() -> None:
    """Nothing to undo: the next change of each row writes its columns again."""
