"""SQLAlchemy Core views of the tables the migrations create (migrations are the truth)."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()


def _at(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


inbox_events = Table(
    "inbox_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("hub", Text, nullable=False),
    Column("body_sha256", LargeBinary, nullable=False),
    Column("event_type", Text),
    Column("body", JSONB, nullable=False),
    _at("received_at"),
    _at("processed_at"),
    Column("error", Text),
    Column("channel_id", Text),
    Column("client_id", Text),
)

onboardings = Table(
    "onboardings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("hub", Text, nullable=False),
    Column("product", Text, nullable=False),
    Column("external_user_id", Text, nullable=False),
    Column("state_sha256", LargeBinary, nullable=False),
    Column("sequence", BigInteger),
    Column("prefill", JSONB),
    _at("created_at"),
    _at("expires_at", nullable=False),
    _at("redirected_at"),
    Column("redirect_query", Text),
    Column("client_id", Text),
    Column("channels", ARRAY(Text)),
    Column("revoked", ARRAY(Text)),
    # The browser that last opened the popup (web/attempts.py): its cookie's sha256.
    Column("attempt_cookie_sha256", LargeBinary),
    _at("popup_opened_at"),
    Column("verification", Text),
    _at("verified_at"),
    Column("ignored", ARRAY(Text)),
    Column("conflict", JSONB),
    # domain/stage.py's stage_of the rows, kept by db/stages.py (expired is read at read time).
    Column("stage", Text, nullable=False),
    # The journey (migration 0014): each step stamped once, when first reached; NULL
    # journey_id: the attempt started its own journey (its id).
    Column("journey_id", UUID(as_uuid=True)),
    Column("resumed_from", UUID(as_uuid=True)),
    _at("popup_blocked_at"),
    _at("popup_closed_at"),
    _at("first_channel_at"),
    _at("running_at"),
    _at("key_stored_at"),
    _at("activated_at"),
    _at("abandoned_at"),
    Column("abandoned_step", Text),
    Column("abandoned_reason", Text),
    # Started for a user who already had a client on the hub (migration 0018; the funnel's
    # new vs returning).
    Column("returning_client", Boolean, nullable=False, server_default="false"),
)

clients = Table(
    "clients",
    metadata,
    Column("hub", Text, primary_key=True),
    Column("client_id", Text, primary_key=True),
    Column("external_user_id", Text),
    Column("state", JSONB, nullable=False),
    _at("created_at"),
    _at("updated_at"),
)

channels = Table(
    "channels",
    metadata,
    Column("hub", Text, primary_key=True),
    Column("channel_id", Text, primary_key=True),
    Column("client_id", Text),
    Column("phone_number", Text),
    Column("status", Text),
    Column("permission", Text, nullable=False),
    Column("key_status", Text, nullable=False),
    Column("key_intent", Integer, nullable=False),
    Column("blocker", Text),
    Column("reason", Text, nullable=False),
    Column("state", JSONB, nullable=False),
    _at("created_at"),
    _at("updated_at"),
    # The key health check (jobs/key_health.py): its last run on the stored key, what it
    # found (working, not_working, unavailable), and its last success.
    _at("key_checked_at"),
    Column("key_check_outcome", Text),
    _at("key_good_at"),
)

key_generations = Table(
    "key_generations",
    metadata,
    Column("hub", Text, primary_key=True),
    Column("channel_id", Text, primary_key=True),
    Column("intent", Integer, primary_key=True),
    Column("rotation", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    _at("created_at"),
    _at("updated_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("hub", Text, nullable=False),
    Column("channel_id", Text, nullable=False),
    Column("intent", Integer, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("hub_key_id", Text),
    _at("created_at"),
    _at("discarded_at"),
)

product_events = Table(
    "product_events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("product", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("dedupe_key", Text, nullable=False),
    Column("hub", Text),
    Column("client_id", Text),
    Column("channel_id", Text),
    Column("payload", JSONB, nullable=False),
    _at("created_at"),
    _at("delivered_at"),
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    _at("failed_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("product", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    _at("started_at", nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status", Integer),
    Column("error_class", Text),
    Column("error", Text),
    Column("response_excerpt", Text),
)

product_endpoints = Table(
    "product_endpoints",
    metadata,
    Column("product", Text, primary_key=True),
    _at("disabled_at"),
    Column("disabled_reason", Text),
    Column("disabled_by", Text),
    _at("failing_since"),
    _at("updated_at"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("hub", Text, nullable=False),
    Column("client_id", Text),
    Column("channel_id", Text),
    Column("source", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("detail", JSONB),
    _at("at"),
)

operators = Table(
    "operators",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("failed_attempts", Integer, nullable=False),
    _at("locked_until"),
    _at("created_at"),
)

operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("id", LargeBinary, primary_key=True),
    Column("operator_id", BigInteger, nullable=False),
    Column("csrf_token", Text, nullable=False),
    _at("created_at"),
    _at("expires_at", nullable=False),
    _at("last_seen_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("operator_id", BigInteger),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", JSONB),
    _at("at"),
)

sync_checkpoints = Table(
    "sync_checkpoints",
    metadata,
    Column("hub", Text, primary_key=True),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("next_offset", Integer, nullable=False),
    _at("started_at"),
    _at("updated_at"),
    _at("finished_at"),
)

# A 429's Retry-After, per hub and API, kept across runs (migration 0017).
rate_limit_holds = Table(
    "rate_limit_holds",
    metadata,
    Column("hub", Text, primary_key=True),
    Column("api", Text, primary_key=True),
    _at("not_before", nullable=False),
    Column("retry_after_seconds", Double, nullable=False),
    _at("noted_at", nullable=False),
)
