"""A year of journeys in two statements (INSERT … SELECT generate_series): first attempts
spread evenly over 365 days on a Partner Payment and a Direct Payment hub, each stopping
at a step of the funnel with its stamps minutes to hours apart, some abandoned, one in
nine for a returning client, and one in 33 resumed by a second attempt a day later. Used
by bench/funnel.py and tests/integration/test_funnel_plans.py."""

from __future__ import annotations

from typing import Any

HUBS = ("pp", "dp")
PRODUCT = "default"

# n % 100 decides how far journey n goes: < 85 opened the popup, < 60 came back, < 55 has
# a number, < 45 running, < 40 key stored, < 38 activated; 60..84 older than a day are
# abandoned at popup_opened, 85..99 at started.
SEED = [
    """
    INSERT INTO onboardings (id, hub, product, external_user_id, state_sha256, created_at,
      expires_at, returning_client, prefill, popup_opened_at, popup_blocked_at, redirected_at,
      first_channel_at, running_at, key_stored_at, activated_at, abandoned_at,
      abandoned_step)
    SELECT md5('j' || n)::uuid, CASE WHEN n % 3 = 0 THEN 'dp' ELSE 'pp' END, :product,
      'user-' || n, decode(md5('s' || n), 'hex'), t, t + interval '1 hour', n % 9 = 0,
      CASE WHEN n % 9 = 0 THEN '{"login": true}'::jsonb ELSE '{}'::jsonb END,
      CASE WHEN n % 100 < 85 THEN t + make_interval(secs => 5 + n % 7 * 10) END,
      CASE WHEN n % 100 BETWEEN 80 AND 84 THEN t + interval '1 minute' END,
      CASE WHEN n % 100 < 60 THEN t + make_interval(secs => 120 + n % 13 * 60) END,
      CASE WHEN n % 100 < 55 THEN t + make_interval(secs => 125 + n % 13 * 60) END,
      CASE WHEN n % 100 < 45 THEN t + make_interval(secs => 300 + n % 5 * 3600) END,
      CASE WHEN n % 100 < 40 THEN t + make_interval(secs => 302 + n % 5 * 3600) END,
      CASE WHEN n % 100 < 38 THEN t + make_interval(secs => 303 + n % 5 * 3600) END,
      CASE WHEN n % 100 >= 60 AND t < now() - interval '1 day' THEN t + interval '1 day' END,
      CASE WHEN n % 100 >= 60 AND t < now() - interval '1 day'
        THEN CASE WHEN n % 100 < 85 THEN 'popup_opened' ELSE 'started' END END
    FROM (SELECT n, now() - make_interval(secs => (:onboardings - n) * 31536000.0
            / :onboardings) AS t FROM generate_series(1, :onboardings) n) s
    """,
    """
    INSERT INTO onboardings (id, hub, product, external_user_id, state_sha256, created_at,
      expires_at, journey_id, resumed_from, popup_opened_at, redirected_at, first_channel_at)
    SELECT md5('r' || n)::uuid, o.hub, :product, o.external_user_id,
      decode(md5('rs' || n), 'hex'), o.created_at + interval '1 day',
      o.created_at + interval '25 hours', o.id, o.id,
      o.created_at + interval '1 day 1 minute', o.created_at + interval '1 day 5 minutes',
      o.created_at + interval '1 day 6 minutes'
    FROM generate_series(33, :onboardings, 33) n JOIN onboardings o ON o.id = md5('j' || n)::uuid
    """,
]


def seed_params(onboardings: int) -> dict[str, Any]:
    """``onboardings``: first attempts; resumed ones come on top (one in 33)."""
    return {"product": PRODUCT, "onboardings": onboardings}
