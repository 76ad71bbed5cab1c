"""Onboardings remember the browser that opened their popup: a cookie's digest and when.

Revision ID: 0008
Revises: 0007

The hosted connect page identifies the attempt a redirect belongs to by a first-party
cookie set when the popup opens, so nothing depends on 360dialog echoing ``state``
(web/attempts.py). Both columns are nullable without a default: adding them only
changes the catalogue, whatever the table's size.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE onboardings
            ADD COLUMN attempt_cookie_sha256 bytea,
            ADD COLUMN popup_opened_at timestamptz
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE onboardings DROP COLUMN attempt_cookie_sha256, DROP COLUMN popup_opened_at"
    )
