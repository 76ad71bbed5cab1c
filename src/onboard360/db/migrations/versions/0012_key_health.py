"""The key health check's findings on each channel, and the index it picks its batch with.

Revision ID: 0012
Revises: 0011

``key_checked_at`` / ``key_check_outcome``: the newest check of the stored key and what
it found (``working``, ``not_working``: 401/403, ``unavailable``: 5xx or timeout, no
verdict); ``key_good_at``: the newest check that found it working. Whether the key is
marked not working is the lifecycle's (the state's ``key_refused_intent``, the
``key_not_working`` blocker), not these columns: they are what was seen, when.

Each run picks the live channels checked longest ago (never checked first): the partial
index holds only live keyed channels, in that order, so the pick reads a batch, not the
table. Adding nullable columns without a default rewrites nothing; the index is built
concurrently so a big ``channels`` table stays writable meanwhile.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_INDEX = (
    "channels_key_checks ON channels (hub, key_checked_at NULLS FIRST, channel_id) "
    "WHERE key_status = 'stored' AND status = 'running'"
)


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE channels
            ADD COLUMN key_checked_at timestamptz,
            ADD COLUMN key_check_outcome text,
            ADD COLUMN key_good_at timestamptz
        """
    )
    with op.get_context().autocommit_block():
        op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {_INDEX}")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS channels_key_checks")
    op.execute(
        """
        ALTER TABLE channels
            DROP COLUMN key_checked_at,
            DROP COLUMN key_check_outcome,
            DROP COLUMN key_good_at
        """
    )
