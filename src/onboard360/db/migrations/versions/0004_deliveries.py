"""The product handoff's delivery log, dead events, and each product endpoint's state.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = """
-- One row per attempt to hand an event to the product: what happened, never a secret.
CREATE TABLE delivery_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text NOT NULL REFERENCES product_events (id) ON DELETE CASCADE,
    product text NOT NULL,
    attempt integer NOT NULL,  -- 1, 2, … over the event's whole life (replays included)
    started_at timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    status integer,  -- the HTTP status; NULL when no answer came
    error_class text,  -- e.g. ConnectError, ReadTimeout; NULL when an answer came
    error text,  -- what went wrong, for people (no URL, body or secret)
    response_excerpt text,  -- the first bytes of the product's answer, redacted
    UNIQUE (event_id, attempt)
);
CREATE INDEX delivery_attempts_product_idx ON delivery_attempts (product, started_at);

-- Retries exhausted (or given up): the event is dead until replayed.
ALTER TABLE product_events ADD COLUMN failed_at timestamptz;
CREATE INDEX product_events_product_idx ON product_events (product, created_at, id);
CREATE INDEX product_events_undelivered_idx ON product_events (product, created_at, id)
    WHERE delivered_at IS NULL;

-- Whether deliveries to a product's webhook_url are attempted. No row: enabled.
CREATE TABLE product_endpoints (
    product text PRIMARY KEY,
    disabled_at timestamptz,  -- NULL: enabled
    disabled_reason text,
    disabled_by text,  -- auto | api | cli | operator:<email>
    failing_since timestamptz,  -- the first failed attempt since the last success
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute(
        "DROP TABLE product_endpoints; "
        "DROP INDEX product_events_product_idx; DROP INDEX product_events_undelivered_idx; "
        "ALTER TABLE product_events DROP COLUMN failed_at; DROP TABLE delivery_attempts;"
    )
