"""Onboardings, clients, channels, keys, product events, the timeline and the job queue.

Revision ID: 0002
Revises: 0001

procrastinate's own schema is applied here, from the pinned procrastinate version
(pyproject pins it to one minor release). Upgrading procrastinate means adding an Alembic
migration that runs its shipped SQL migrations (procrastinate/sql/migrations).
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = """
ALTER TABLE inbox_events ADD COLUMN error text;
ALTER TABLE inbox_events ADD COLUMN channel_id text;
ALTER TABLE inbox_events ADD COLUMN client_id text;

CREATE SEQUENCE onboarding_sequence;

CREATE TABLE onboardings (
    id uuid PRIMARY KEY,
    hub text NOT NULL,
    product text NOT NULL,
    external_user_id text NOT NULL,
    -- sha256 of the state token: the token itself is only ever in the popup URL.
    state_sha256 bytea NOT NULL UNIQUE,
    -- Orders redirects for the lifecycle: a newer popup opening wins over an older one.
    sequence bigint NOT NULL DEFAULT nextval('onboarding_sequence'),
    prefill jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    redirected_at timestamptz,
    redirect_query text,
    client_id text,
    channels text[] NOT NULL DEFAULT '{}',
    revoked text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX onboardings_user_idx ON onboardings (hub, external_user_id);

CREATE TABLE clients (
    hub text NOT NULL,
    client_id text NOT NULL,
    external_user_id text,
    state jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hub, client_id)
);

CREATE TABLE channels (
    hub text NOT NULL,
    channel_id text NOT NULL,
    client_id text,
    phone_number text,
    status text,
    permission text NOT NULL,
    key_status text NOT NULL,
    key_intent integer NOT NULL DEFAULT 0,
    -- Why no key may be generated now, in words for an operator (NULL: it may).
    blocker text,
    reason text NOT NULL DEFAULT '',
    state jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hub, channel_id)
);
CREATE INDEX channels_client_idx ON channels (hub, client_id);
CREATE INDEX channels_phone_idx ON channels (phone_number);

-- One row per key intent: the ledger that makes generation exactly-once.
CREATE TABLE key_generations (
    hub text NOT NULL,
    channel_id text NOT NULL,
    intent integer NOT NULL,
    rotation boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'pending',  -- pending | stored | refused | discarded
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hub, channel_id, intent)
);

CREATE TABLE api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hub text NOT NULL,
    channel_id text NOT NULL,
    intent integer NOT NULL,
    ciphertext bytea NOT NULL,
    hub_key_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    discarded_at timestamptz,
    UNIQUE (hub, channel_id, intent)
);

-- Events for the partner's product, delivered by jobs (Standard Webhooks).
CREATE TABLE product_events (
    id text PRIMARY KEY,  -- the webhook-id
    product text NOT NULL,
    event_type text NOT NULL,
    -- At most one event per meaning, whatever replays: e.g. channel.activated:<hub>:<ch>:<n>.
    dedupe_key text NOT NULL UNIQUE,
    hub text,
    client_id text,
    channel_id text,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_status integer,
    last_error text
);
CREATE INDEX product_events_channel_idx ON product_events (hub, channel_id);

-- Everything that happened to a client or channel, for people (keys never appear here).
CREATE TABLE timeline (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hub text NOT NULL,
    client_id text,
    channel_id text,
    source text NOT NULL,  -- webhook | redirect | api | job | operator
    kind text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timeline_client_idx ON timeline (hub, client_id, id);
CREATE INDEX timeline_channel_idx ON timeline (hub, channel_id, id);
"""


def upgrade() -> None:
    op.execute(SchemaManager.get_schema())
    op.execute(TABLES)


def downgrade() -> None:
    raise NotImplementedError("0002 is not reversible; restore from a backup instead")
