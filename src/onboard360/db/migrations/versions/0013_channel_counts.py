"""The overview's channel counts and needs-attention lists cost the same at any history size.

Revision ID: 0013
Revises: 0012

Measured by bench/history.py at 1,000,000 onboardings (212,000 channels): the overview and
the dashboard's home took ~500 ms, almost all of it in four statements that read every
channel of the hub — the channels by state (an index-only scan of ``channels_states``,
48 ms) and the counts of the "waiting for permission", "stuck" and "violations" lists
(sequential scans, 40–55 ms each; the dashboard runs each list twice, count and preview).

- ``channel_state_counts``: the hub's channels per (status, permission, key_status), kept
  by statement triggers on ``channels`` in the same transactions, like
  ``onboarding_stage_counts`` (0011): one row per backend slot (``pg_backend_pid() %
  16``), so concurrent writers rarely share a row; the overview sums at most 16 rows per
  state. ``status`` NULL is counted as ``'unknown'`` (what the overview shows).
- Partial indexes, one per needs-attention list over channels, on ``(hub, updated_at,
  (hub || '/' || channel_id))``: the list's predicate, its order (``since``, ``item``)
  and its count read only the channels on the list — a handful in a healthy hub,
  whatever the history.

  - ``channels_attention_permission``: ``blocker = 'waiting_for_permission'``;
  - ``channels_attention_stuck``: ``key_status <> 'stored' AND status IS DISTINCT FROM
    'terminated'`` (the age condition stays in the query: a range on ``updated_at``);
  - ``channels_attention_violations``: ``jsonb_array_length(coalesce(state->'violations',
    '[]')) > 0``;
  - ``channels_attention_key_not_working``: ``blocker = 'key_not_working'`` (key health,
    migration 0012).

The counters are filled from the rows in the migration's transaction (one aggregate over
the channels: ~0.2 s per 100,000 channels); indexes are built CONCURRENTLY outside it.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SLOTS = 16
_KEY = "coalesce(status, 'unknown'), permission, key_status"

_TRIGGERS = """
CREATE TABLE channel_state_counts (
    hub text NOT NULL,
    status text NOT NULL,
    permission text NOT NULL,
    key_status text NOT NULL,
    slot integer NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (hub, status, permission, key_status, slot)
);
CREATE FUNCTION channel_state_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO channel_state_counts AS c (hub, status, permission, key_status, slot, n)
  SELECT hub, {key}, pg_backend_pid() % {slots}, count(*) FROM new_rows
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hub, status, permission, key_status, slot) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END $$;
CREATE FUNCTION channel_state_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO channel_state_counts AS c (hub, status, permission, key_status, slot, n)
  SELECT hub, {key}, pg_backend_pid() % {slots}, -count(*) FROM old_rows
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hub, status, permission, key_status, slot) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END $$;
CREATE FUNCTION channel_state_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO channel_state_counts AS c (hub, status, permission, key_status, slot, n)
  SELECT d.hub, d.status, d.permission, d.key_status, pg_backend_pid() % {slots}, sum(d.n)
  FROM (SELECT hub, coalesce(status, 'unknown') AS status, permission, key_status, 1 AS n
        FROM new_rows
        UNION ALL
        SELECT hub, coalesce(status, 'unknown'), permission, key_status, -1 FROM old_rows) d
  GROUP BY 1, 2, 3, 4 HAVING sum(d.n) <> 0 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hub, status, permission, key_status, slot) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END $$;
CREATE TRIGGER channels_state_count_insert AFTER INSERT ON channels
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION channel_state_count_insert();
CREATE TRIGGER channels_state_count_delete AFTER DELETE ON channels
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION channel_state_count_delete();
CREATE TRIGGER channels_state_count_update AFTER UPDATE ON channels
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION channel_state_count_update();
""".replace("{slots}", str(SLOTS)).replace("{key}", _KEY)

_FILL = f"""
INSERT INTO channel_state_counts (hub, status, permission, key_status, slot, n)
SELECT hub, {_KEY}, 0, count(*) FROM channels GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - fixed SQL
_ITEM = "(hub, updated_at, (hub || '/' || channel_id))"
_INDEXES = (
    f"channels_attention_permission ON channels {_ITEM} WHERE blocker = 'waiting_for_permission'",
    f"channels_attention_stuck ON channels {_ITEM} "
    "WHERE key_status <> 'stored' AND status IS DISTINCT FROM 'terminated'",
    f"channels_attention_violations ON channels {_ITEM} "
    "WHERE jsonb_array_length(coalesce(state->'violations', '[]')) > 0",
    f"channels_attention_key_not_working ON channels {_ITEM} WHERE blocker = 'key_not_working'",
)


def upgrade() -> None:
    # The table lock makes the fill and the triggers start from the same rows.
    op.execute("LOCK TABLE channels IN SHARE ROW EXCLUSIVE MODE")
    op.execute(_TRIGGERS)
    op.execute(_FILL)
    with op.get_context().autocommit_block():
        for index in _INDEXES:
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index}")
        op.execute("ANALYZE channels")


def downgrade() -> None:
    for index in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {index.split(' ', 1)[0]}")
    op.execute(
        """
        DROP TRIGGER channels_state_count_insert ON channels;
        DROP TRIGGER channels_state_count_delete ON channels;
        DROP TRIGGER channels_state_count_update ON channels;
        DROP FUNCTION channel_state_count_insert();
        DROP FUNCTION channel_state_count_delete();
        DROP FUNCTION channel_state_count_update();
        DROP TABLE channel_state_counts;
        """
    )
