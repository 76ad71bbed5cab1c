"""Operators of the dashboard, their sessions, and the audit log of what they did.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE operators (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,  -- stored lower-cased
    password_hash text NOT NULL,  -- argon2id, never the password
    disabled boolean NOT NULL DEFAULT false,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE operator_sessions (
    -- sha256 of the random session token: the token itself is only ever in the cookie.
    id bytea PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_sessions_operator_idx ON operator_sessions (operator_id);

-- What operators did (and what the CLI did to operator accounts); never a key.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint REFERENCES operators (id) ON DELETE SET NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL DEFAULT now()
);
-- The client page merges a client's audit entries into its timeline.
CREATE INDEX audit_log_client_idx ON audit_log ((detail->>'hub'), (detail->>'client_id'));
CREATE INDEX audit_log_channel_idx ON audit_log ((detail->>'hub'), (detail->>'channel_id'));
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute("DROP TABLE audit_log; DROP TABLE operator_sessions; DROP TABLE operators;")
