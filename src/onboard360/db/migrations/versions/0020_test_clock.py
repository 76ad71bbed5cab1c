"""Jobs waiting for a retry follow a test clock, as onboarding expiry already does.

Revision ID: 0020
Revises: 0019

For tests only (``test_clock_url``): when the sandbox's clock is pushed forward (a
scenario's ``advance = "2h"``, ``onboard360 sandbox clock --advance``) or sped up, every
process following it calls ``follow_test_clock(ahead_seconds)`` (wiring/service.py). The
one-row ``test_clock`` table holds how far ahead the last call put the queue; the function
locks it, and only when the clock is further ahead than that moves every job waiting for
a later time (a retry's backoff) that much earlier (at the earliest to now), so that
procrastinate, which compares ``scheduled_at`` with the database's own clock, runs it when
the test clock says it is due. Whichever process sees a move first applies it once: the
others find the row already there. A clock that went back (a new sandbox) is recorded and
moves nothing. With no test clock the row stays at 0 and nothing calls the function.
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE test_clock (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            ahead_seconds double precision NOT NULL
        );
        INSERT INTO test_clock (ahead_seconds) VALUES (0);
        CREATE FUNCTION follow_test_clock(ahead double precision) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
          was double precision;
          moved integer := 0;
        BEGIN
          SELECT ahead_seconds INTO was FROM test_clock FOR UPDATE;
          IF was = ahead THEN
            RETURN 0;
          END IF;
          UPDATE test_clock SET ahead_seconds = ahead;
          IF ahead > was THEN
            UPDATE procrastinate_jobs
               SET scheduled_at = greatest(now(), scheduled_at - make_interval(secs => ahead - was))
             WHERE status = 'todo' AND scheduled_at > now();
            GET DIAGNOSTICS moved = ROW_COUNT;
          END IF;
          RETURN moved;
        END $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION follow_test_clock(double precision); DROP TABLE test_clock")
