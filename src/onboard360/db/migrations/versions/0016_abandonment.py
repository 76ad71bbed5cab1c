"""The indexes the abandonment sweep and resume read (the columns are 0014's).

Revision ID: 0016
Revises: 0015

Each index holds only attempts that may still need the sweep, so it stays as small as the
attempts of the last hours and days, not the history: an attempt leaves it when it is
marked abandoned, redirected (the first), or keyed or live (the second).

- ``onboardings_expiring (hub, expires_at) WHERE redirected_at IS NULL AND abandoned_at
  IS NULL``: the sweep's attempts that expired without their redirect, oldest expiry
  first (jobs/abandon.py ``_EXPIRED``). ``onboardings_waiting`` (0011) keeps every
  attempt that never came back, abandoned or not, for the lists: it grows with the
  history.
- ``onboardings_stalling (hub, redirected_at) WHERE redirected_at IS NOT NULL AND
  abandoned_at IS NULL AND key_stored_at IS NULL AND stage <> 'live'``: the sweep's
  redirected attempts none of whose numbers got a key yet, oldest redirect first
  (``_STALLED``). Until ``key_stored_at`` is stamped by the lifecycle, an attempt one of
  whose numbers has a key but is not all live stays in it, and the rule skips it at each
  sweep (the keyset walks past it); once stamped, it leaves.
- ``onboardings_resumed_from UNIQUE (resumed_from) WHERE resumed_from IS NOT NULL``: an
  attempt is resumed at most once, whatever runs at once (services/resume.py answers
  ``409 already_resumed``), and which attempt resumed it (``resumed_by``).

On the first sweep after this migration every attempt of the history that expired
without its redirect is a candidate once: the sweep marks it without an event (it went
stale before ``abandon_notify_within_hours``), in batches, and it leaves the index.
Built concurrently: writes go on meanwhile.
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_INDEXES = (
    "onboardings_expiring ON onboardings (hub, expires_at) "
    "WHERE redirected_at IS NULL AND abandoned_at IS NULL",
    "onboardings_stalling ON onboardings (hub, redirected_at) "
    "WHERE redirected_at IS NOT NULL AND abandoned_at IS NULL AND key_stored_at IS NULL "
    "AND stage <> 'live'",
)
_UNIQUE = "onboardings_resumed_from ON onboardings (resumed_from) WHERE resumed_from IS NOT NULL"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for index in _INDEXES:
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index}")
        op.execute(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {_UNIQUE}")


def downgrade() -> None:
    for index in (*_INDEXES, _UNIQUE):
        op.execute(f"DROP INDEX IF EXISTS {index.split(' ', 1)[0]}")
