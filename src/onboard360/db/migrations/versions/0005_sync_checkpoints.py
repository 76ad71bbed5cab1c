"""Where each hub's reconciliation got to, so a crashed sync continues instead of restarting.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = """
-- One row per hub: its latest reconciliation run. next_offset is committed with each
-- page's transaction; a run with no finished_at is continued by the next one.
CREATE TABLE sync_checkpoints (
    hub text PRIMARY KEY,
    run_id uuid NOT NULL,
    next_offset integer NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute("DROP TABLE sync_checkpoints;")
