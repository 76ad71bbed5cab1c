"""Redirects are verified against 360dialog before they change anything.

Revision ID: 0009
Revises: 0008

An onboarding attempt records how its redirect was verified (docs/decisions/
0008-redirect-trust.md): ``verification`` is ``pending`` (360dialog could not be asked
yet), ``applied`` (also once a claim settled a conflict), ``conflict`` (the client is
someone else's, or older than the attempt) or ``unknown_client`` (360dialog knows no such
client); ``ignored`` holds the channel ids the redirect named that 360dialog
does not list under its client, ``conflict`` what was claimed and why it was not bound.
Attempts redirected before this version were applied unverified: they stay NULL.

Only new nullable columns without defaults (no table rewrite); the partial indexes that
keep the needs-attention lists cheap are built CONCURRENTLY, outside the transaction, so
writes go on while they build.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE onboardings
            ADD COLUMN verification text,
            ADD COLUMN verified_at timestamptz,
            ADD COLUMN ignored text[],
            ADD COLUMN conflict jsonb
        """
    )
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS onboardings_unsettled "
            "ON onboardings (hub, verification) "
            "WHERE verification IN ('pending', 'conflict', 'unknown_client')"
        )
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_unclaimed "
            "ON clients (hub, client_id) WHERE external_user_id IS NULL"
        )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS clients_unclaimed;
        DROP INDEX IF EXISTS onboardings_unsettled;
        ALTER TABLE onboardings
            DROP COLUMN conflict, DROP COLUMN ignored,
            DROP COLUMN verified_at, DROP COLUMN verification;
        """
    )
