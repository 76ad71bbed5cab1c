"""Durable inbox for partner webhooks.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("hub", sa.Text, nullable=False),
        # sha256 of the raw body: 360dialog documents no event id, so a redelivery is
        # recognised by its bytes.
        sa.Column("body_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("event_type", sa.Text, nullable=True),
        sa.Column("body", postgresql.JSONB, nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("hub", "body_sha256", name="inbox_events_hub_body_uq"),
    )
    op.create_index(
        "inbox_events_unprocessed_idx",
        "inbox_events",
        ["received_at"],
        postgresql_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("inbox_events")
