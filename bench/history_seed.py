"""A year of history in a few statements (INSERT … SELECT generate_series): onboardings,
clients, channels, product events and timeline lines in the proportions of a real run
multiplied (issue 16: 660k onboardings, 100k clients, 140k channels, 980k events, 1M
timeline lines). Used by bench/history.py and tests/integration/test_query_plans.py."""

from __future__ import annotations

from typing import Any

HUB = "pp"
PRODUCT = "default"
# Every table a year fills: the history seeded here, and the traffic beside it
# (bench/history_retention.py). The bench reports their sizes; the plan test holds
# their reads to indexes.
GROWING = (
    "onboardings",
    "clients",
    "channels",
    "product_events",
    "timeline",
    "inbox_events",
    "delivery_attempts",
    "procrastinate_jobs",
)


def proportions(onboardings: int) -> dict[str, int]:
    return {
        "onboardings": onboardings,
        "clients": max(onboardings * 100 // 660, 1),
        "channels": max(onboardings * 140 // 660, 1),
        "events": onboardings * 980 // 660,
        "timeline": onboardings * 1000 // 660,
    }


# Clients are "C<n>", their channels "CH<n>" (client n % clients), phones +4915<n:9>.
# One onboarding in six of the last clients' users came back with a client; the rest
# expired or are waiting. Stages follow their rows (a live client's channels are running
# with a stored key).
SEED = [
    """
    INSERT INTO clients (hub, client_id, external_user_id, state)
    SELECT :hub, 'C' || n, 'user-' || n, '{}'::jsonb FROM generate_series(1, :clients) n
    """,
    """
    INSERT INTO channels (hub, channel_id, client_id, phone_number, status, permission,
      key_status, key_intent, blocker, reason, state)
    SELECT :hub, 'CH' || n, 'C' || (1 + n % :clients), '+4915' || lpad(n::text, 9, '0'),
      CASE WHEN n % 10 = 0 THEN 'ready' ELSE 'running' END, 'granted',
      CASE WHEN n % 10 = 0 THEN 'none' ELSE 'stored' END, 1,
      CASE WHEN n % 10 = 0 THEN 'not_running' END, '', '{}'::jsonb
    FROM generate_series(1, :channels) n
    """,
    """
    INSERT INTO onboardings (id, hub, product, external_user_id, state_sha256, created_at,
      expires_at, redirected_at, client_id, channels, verification, stage)
    SELECT md5('o' || n)::uuid, :hub, :product, 'user-' || (1 + n % :clients),
      decode(md5('s' || n), 'hex'),
      now() - make_interval(secs => (:onboardings - n) * 30),
      now() - make_interval(secs => (:onboardings - n) * 30) + interval '1 hour',
      CASE WHEN n % 6 = 0 THEN now() - make_interval(secs => (:onboardings - n) * 30) END,
      CASE WHEN n % 6 = 0 THEN 'C' || (1 + n % :clients) END,
      CASE WHEN n % 6 = 0 AND n % :clients < :channels
        THEN ARRAY['CH' || (n % :clients)] ELSE '{}' END,
      CASE WHEN n % 6 = 0 THEN 'applied' END,
      CASE WHEN n % 6 <> 0 THEN 'waiting_for_popup'
        WHEN n % :clients >= :channels OR n % :clients = 0 THEN 'action_needed'
        WHEN (n % :clients) % 10 = 0 THEN 'connecting' ELSE 'live' END
    FROM generate_series(1, :onboardings) n
    """,
    """
    INSERT INTO product_events (id, product, event_type, dedupe_key, hub, client_id,
      channel_id, payload, created_at, delivered_at, attempts)
    SELECT 'ev' || n, :product, 'channel.activated', 'd' || n, :hub,
      'C' || (1 + n % :clients), 'CH' || (1 + n % :channels), '{}'::jsonb,
      now() - make_interval(secs => (:events - n) * 20), now(), 1
    FROM generate_series(1, :events) n
    """,
    """
    INSERT INTO timeline (hub, client_id, channel_id, source, kind, detail, at)
    SELECT :hub, 'C' || (1 + n % :clients), 'CH' || (1 + n % :channels), 'webhook',
      'channel_running', '{}'::jsonb, now() - make_interval(secs => (:timeline - n) * 20)
    FROM generate_series(1, :timeline) n
    """,
]


def seed_params(onboardings: int) -> dict[str, Any]:
    return {"hub": HUB, "product": PRODUCT, **proportions(onboardings)}
