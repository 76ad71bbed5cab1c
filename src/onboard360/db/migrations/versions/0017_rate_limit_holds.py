"""When 360dialog asked a hub's calls to wait: a 429's ``Retry-After``, kept across runs.

Revision ID: 0017
Revises: 0016

The key health check (jobs/key_health.py) stops its run on a 429, but the next run (a
worker, minutes later, maybe on another host) used to call again whatever the
``Retry-After`` said. ``rate_limit_holds`` keeps, per hub and API (``messaging``: the
Messaging API the checks call), the moment before which no call is sent
(``not_before``), the ``Retry-After`` that set it and when.

One row per hub and API, rewritten in place: a handful of rows whatever the traffic, so
no index beyond the primary key, which serves the one query — the run's lookup of its
hub's hold (``WHERE hub = :hub AND api = :api``) and the upsert that sets it.
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE rate_limit_holds (
            hub text NOT NULL,
            api text NOT NULL,
            not_before timestamptz NOT NULL,
            retry_after_seconds double precision NOT NULL,
            noted_at timestamptz NOT NULL,
            PRIMARY KEY (hub, api)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE rate_limit_holds")
