"""The funnel reads journeys through two covering indexes; an attempt knows if its client
was returning.

Revision ID: 0018
Revises: 0017

``onboardings.returning_client``: the attempt was started for a user who already had a
client on the hub (services/onboardings.py: the popup opens at its login;
``onboarding.started``'s ``returning_client``). Until now only ``prefill->>'login'`` said
so, and an index cannot carry an expression for an index-only scan. ``ADD COLUMN …
DEFAULT false`` is a catalogue change (no rewrite); the returning rows (those with
``prefill->>'login'``) are then set in batches of 5,000 ids, each committed on its own,
as migration 0011 fills the stage.

Indexes (built CONCURRENTLY: writes go on while they build) and the query each serves,
db/queries/funnel.py (``GET /api/v1/funnel``, ``/funnel/days`` and the dashboard's funnel
page):

- ``onboardings_funnel (hub, created_at) INCLUDE (returning_client, every step stamp,
  abandoned_at, abandoned_step) WHERE journey_id IS NULL``: the journeys started in a
  range (a journey's first attempt starts it; a resumed attempt has a ``journey_id``),
  read by an index-only scan of that range and nothing else: the cost follows the
  range's journeys, not the table's history (for a short range of a small table the
  planner may take 0011's ``onboardings_newest`` and the range's heap pages instead).
- ``onboardings_resumed (hub, created_at) INCLUDE (journey_id, the stamps, abandoned_at,
  abandoned_step) WHERE journey_id IS NOT NULL``: the later attempts of those journeys
  (a resumed journey reached a step if any of its attempts did, at the earliest time):
  a resumed attempt starts after its journey, so those of a range's journeys are among
  the resumed attempts started since the range's first day, read index-only and joined
  by hash (a probe per journey, or a semi-join on the range's ids, cost more than the
  few resumed attempts themselves).

Measured by ``bench/funnel.py --migration`` (1,000,000 journeys, 2-core machine shared
with other work): the backfill 22.8 s (207 batches of 5,000), the index builds 4.4 s; the
funnel's own timings are in README.md's Performance section.
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BATCH = 5000
STAMPS = (
    "popup_opened_at, popup_blocked_at, popup_closed_at, redirected_at, first_channel_at, "
    "running_at, key_stored_at, activated_at, abandoned_at, abandoned_step"
)
_INDEXES = (
    f"onboardings_funnel ON onboardings (hub, created_at) INCLUDE (returning_client, {STAMPS}) "
    "WHERE journey_id IS NULL",
    f"onboardings_resumed ON onboardings (hub, created_at) INCLUDE (journey_id, {STAMPS}) "
    "WHERE journey_id IS NOT NULL",
)


def upgrade() -> None:
    op.execute("ALTER TABLE onboardings ADD COLUMN returning_client boolean NOT NULL DEFAULT false")
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        after = "00000000-0000-0000-0000-000000000000"
        while True:
            # One id range of the primary key per batch (see migration 0011's backfill).
            last = bind.exec_driver_sql(
                f"""SELECT id::text FROM (SELECT id FROM onboardings WHERE id > %(after)s::uuid
                ORDER BY id LIMIT {BATCH}) batch ORDER BY id DESC LIMIT 1""",  # noqa: S608
                {"after": after},
            ).scalar()
            if last is None:
                break
            bind.exec_driver_sql(
                """
                UPDATE onboardings SET returning_client = true
                WHERE id > %(after)s::uuid AND id <= %(last)s::uuid
                  AND prefill->>'login' = 'true' AND NOT returning_client
                """,
                {"after": after, "last": last},
            )
            after = last
        for index in _INDEXES:
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index}")
        op.execute("ANALYZE onboardings")


def downgrade() -> None:
    for index in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {index.split(' ', 1)[0]}")
    op.execute("ALTER TABLE onboardings DROP COLUMN returning_client")
