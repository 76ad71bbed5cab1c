"""The funnel keeps each past day's counts, and hears when a change makes them stale.

Revision ID: 0019
Revises: 0018

Counting a year of journeys on every question read a year of rows (3.3 s at 1,000,000).
A day's journeys are counted once and kept; a question adds up the kept days of its range
and counts only today and yesterday afresh (db/queries/funnel.py). Tables:

- ``funnel_counts (hub, day, returning_client, name, bucket, n)``: one day's journeys on a hub
  (new or returning clients apart): how many started, reached each step, ended in each
  outcome, were abandoned at each step, …, with ``bucket`` 0; and, with ``name``
  ``time:<step>``, the histogram of the time from the step before (domain/funnel.py's
  buckets). Its primary key serves the sum over a range of days of some hubs.
- ``funnel_days_kept (hub, day)``: the days counted, with when (a day without a journey
  has no counts, yet is counted).
- ``funnel_stale (id, hub, day)``: a kept day some change has made stale, appended by the
  trigger below. A refresh counts the day again and deletes the marks it has seen (ids up
  to the largest it read), so a mark appended meanwhile stays for the next refresh.

``onboardings_funnel_stale`` (a statement trigger per INSERT, UPDATE and DELETE on
``onboardings``, with its transition table) appends one mark per hub and journey start
day the statement touched, for the days before today only: a transaction's ``now()``
lags by at most its own length, and only days before yesterday are kept, so a change to
a day that is kept always leaves a mark. A journey's day is its first attempt's: a
resumed attempt marks the day of the journey it resumes. The steady state (today's
onboardings moving on) appends nothing.
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TRIGGER_FUNCTION = """
CREATE FUNCTION onboardings_funnel_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO funnel_stale (hub, day)
  SELECT DISTINCT c.hub, (coalesce(r.created_at, c.created_at) AT TIME ZONE 'UTC')::date
    FROM changed c LEFT JOIN onboardings r ON r.id = c.journey_id
   WHERE (coalesce(r.created_at, c.created_at) AT TIME ZONE 'UTC')::date
         < (now() AT TIME ZONE 'UTC')::date;
  RETURN NULL;
END $$
"""
_EVENTS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE funnel_counts (
            hub text NOT NULL,
            day date NOT NULL,
            returning_client boolean NOT NULL,
            name text NOT NULL,
            bucket integer NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY (hub, day, returning_client, name, bucket)
        );
        CREATE TABLE funnel_days_kept (
            hub text NOT NULL,
            day date NOT NULL,
            counted_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (hub, day)
        );
        CREATE TABLE funnel_stale (
            id bigserial PRIMARY KEY,
            hub text NOT NULL,
            day date NOT NULL
        );
        CREATE INDEX funnel_stale_day ON funnel_stale (hub, day, id);
        """
    )
    op.execute(_TRIGGER_FUNCTION)
    for event, table in _EVENTS.items():
        op.execute(
            f"CREATE TRIGGER onboardings_funnel_stale_{event} AFTER {event.upper()} ON onboardings"
            f" REFERENCING {table} TABLE AS changed FOR EACH STATEMENT"
            " EXECUTE FUNCTION onboardings_funnel_stale()"
        )


def downgrade() -> None:
    for event in _EVENTS:
        op.execute(f"DROP TRIGGER onboardings_funnel_stale_{event} ON onboardings")
    op.execute("DROP FUNCTION onboardings_funnel_stale()")
    op.execute("DROP TABLE funnel_stale, funnel_days_kept, funnel_counts")
