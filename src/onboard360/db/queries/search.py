"""What a search finds: clients by client id, channel id, phone number or the partner's
user id; numbers no client row owns yet; onboardings of that user that never came back.

The query is only ever a bound parameter (never SQL text). ``MATCHED_CLIENTS`` and each
``*_MATCH`` is the one definition of what matches, used by the dashboard's lists and the
API's hits alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, Integer, Subquery, Text, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db.paging import Keyset, fetch_page

MAX_QUERY = 200
MIN_PHONE_DIGITS = 4  # fewer digits would match half the book

MIN_PART = 3  # pg_trgm's trigrams: a shorter part of an id is matched whole only

# Each condition is served by an index (migrations 0011, 0015): ids and user ids by a
# btree for equality, a btree on ``lower(col) text_pattern_ops`` for a prefix and a
# pg_trgm GIN on ``lower(col)`` for a part anywhere (the part lowercased); phone numbers
# by their digits (whatever separators 360dialog sends): a btree (``text_pattern_ops``)
# for a prefix, a pg_trgm GIN for any other run of digits (a national number without its
# country code, a suffix). ``_prefixes`` decides which a query reads. The
# trigram indexes on ids are on ``lower(…)`` so that no equality lookup (``col =
# ANY(…)``, the lifecycle's own reads) can ever pick one: pg_trgm serves ``=`` too, one
# GIN probe per array element, and a planner with stale statistics chose that for
# reconciliation's pages (seconds per 1,000 ids at 30,000 rows).
# A client matches by itself, by one of its channels or by one of its onboardings; each
# way is a separate index lookup, never a correlated scan of every client.


def _digits(alias: str) -> str:
    """A channel's phone number as its digits: the expression migration 0015 indexes."""
    return f"regexp_replace({alias}.phone_number, '[^0-9]', '', 'g')"


_PHONE = f"(:digits <> '' AND {_digits('c')} LIKE :phone)"
_ID = "({col} = :q OR lower({col}) LIKE :part)"
_CLIENT_KEYS = f"""
  SELECT k.hub, k.client_id FROM clients k WHERE k.hub = ANY(:hubs)
    AND ({_ID.format(col="k.client_id")} OR {_ID.format(col="k.external_user_id")})
  UNION SELECT c.hub, c.client_id FROM channels c WHERE c.hub = ANY(:hubs)
    AND ({_ID.format(col="c.channel_id")} OR {_PHONE})
  UNION SELECT o.hub, o.client_id FROM onboardings o WHERE o.hub = ANY(:hubs)
    AND {_ID.format(col="o.external_user_id")}"""  # noqa: S608 - fixed SQL
# The matching clients: the keys joined to their rows by primary key (a nested loop over
# the matches, never a hash of every client).
MATCHED_CLIENTS = f"""(SELECT DISTINCT m.hub, m.client_id FROM ({_CLIENT_KEYS}) m) keys
  JOIN clients cl ON cl.hub = keys.hub AND cl.client_id = keys.client_id"""  # noqa: S608 - fixed SQL
# Channels no client row owns (e.g. seen only by reconciliation before its client was).
CHANNEL_MATCH = f"""c.hub = ANY(:hubs) AND ({_ID.format(col="c.channel_id")} OR {_PHONE})
  AND NOT EXISTS (SELECT 1 FROM clients cl WHERE cl.hub = c.hub AND cl.client_id = c.client_id)"""  # noqa: S608 - fixed SQL
# Onboardings of that partner user that never came back with a client.
ONBOARDING_MATCH = f"""o.hub = ANY(:hubs) AND {_ID.format(col="o.external_user_id")}
  AND o.client_id IS NULL"""

_CLIENTS = text(
    f"""
    SELECT cl.hub, cl.client_id, cl.external_user_id, cl.created_at,
      (SELECT count(*) FROM channels c WHERE c.hub = cl.hub AND c.client_id = cl.client_id)
        AS channels
    FROM {MATCHED_CLIENTS}
    ORDER BY cl.hub, cl.client_id LIMIT :limit
    """  # noqa: S608 - fixed SQL
)
_CHANNELS = text(
    f"""
    SELECT c.hub, c.channel_id, c.client_id, c.phone_number, c.status, c.reason
    FROM channels c WHERE {CHANNEL_MATCH}
    ORDER BY c.hub, c.channel_id LIMIT :limit
    """  # noqa: S608 - fixed SQL
)
_ONBOARDINGS = text(
    f"""
    SELECT o.id, o.hub, o.external_user_id, o.created_at, o.expires_at
    FROM onboardings o WHERE {ONBOARDING_MATCH}
    ORDER BY o.created_at DESC LIMIT :limit
    """  # noqa: S608 - fixed SQL
)

# Every hit in one ordered list (clients, then lone channels, then onboardings): the API's.
_HITS = f"""
  SELECT 1 AS rank, 'client' AS kind, cl.hub, cl.client_id AS ref, cl.client_id,
    NULL::text AS channel_id, NULL::text AS phone_number, cl.external_user_id,
    NULL::uuid AS onboarding_id, cl.created_at
  FROM {MATCHED_CLIENTS}
UNION ALL
  SELECT 2, 'channel', c.hub, c.channel_id, c.client_id, c.channel_id, c.phone_number, NULL,
    NULL, c.created_at
  FROM channels c WHERE {CHANNEL_MATCH}
UNION ALL
  SELECT 3, 'onboarding', o.hub, o.id::text, NULL, NULL, NULL, o.external_user_id, o.id,
    o.created_at
  FROM onboardings o WHERE {ONBOARDING_MATCH}
"""  # noqa: S608 - fixed SQL


def phone_digits(query: str) -> str:
    """The digits of a phone-like query ('' when it is not one)."""
    stripped = query.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    digits = stripped.removeprefix("+")
    if len(digits) < MIN_PHONE_DIGITS or not digits.isascii() or not digits.isdigit():
        return ""
    return digits


def phone_pattern(digits: str, *, prefix: bool) -> str:
    """A LIKE pattern for numbers whose digits start with (``prefix``) or contain these."""
    if not digits:
        return ""
    return f"{digits}%" if prefix else f"%{digits}%"  # only digits: nothing for LIKE to read


def part_pattern(query: str, *, prefix: bool) -> str | None:
    """A LIKE pattern for lowercased ids starting with (``prefix``) or containing ``query``
    in any case (None: too short to be a part)."""
    if len(query) < MIN_PART:
        return None
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix else f"%{escaped}%"


@dataclass(frozen=True)
class Prefixes:
    """Whether the query starts some phone number's digits, and some id or user id."""

    phone: bool = False
    part: bool = False


def _starts(table: str, value: str, pattern: str) -> str:
    """Whether some row of ``table`` in the hubs has ``value`` LIKE the ``pattern`` param."""
    return f"EXISTS (SELECT 1 FROM {table} x WHERE x.hub = ANY(:hubs) AND {value} LIKE :{pattern})"  # noqa: S608 - fixed SQL


_PREFIXES_FOUND = text(
    f"""SELECT {_starts("channels", _digits("x"), "phone")} AS phone,
      ({_starts("clients", "lower(x.client_id)", "part")}
        OR {_starts("clients", "lower(x.external_user_id)", "part")}
        OR {_starts("channels", "lower(x.channel_id)", "part")}
        OR {_starts("onboardings", "lower(x.external_user_id)", "part")}) AS part"""
)


async def _prefixes(conn: AsyncConnection, query: str, hubs: list[str]) -> Prefixes:
    """Which readings of the query start some value: those search matches as a prefix,
    through a range of a btree (exactly the matches); the others anywhere in the value,
    through pg_trgm, whose candidates for a run common to many values (``+4915…``,
    ``user-…``) are many times the matches: a phone prefix with 1,000 matches in 212,000
    numbers took 0.7 ms against ~10, ``user-4242`` in 1,000,000 onboardings' user ids
    ~0.1 ms against ~58."""
    digits, part = phone_digits(query), part_pattern(query, prefix=True)
    if not digits and part is None:
        return Prefixes()
    params = {"hubs": hubs, "phone": phone_pattern(digits, prefix=True) or None, "part": part}
    row = (await conn.execute(_PREFIXES_FOUND, params)).one()
    return Prefixes(phone=bool(row.phone), part=bool(row.part))


def _params(query: str, hubs: list[str], prefixes: Prefixes) -> dict[str, Any]:
    digits = phone_digits(query)
    return {
        "q": query,
        "part": part_pattern(query, prefix=prefixes.part),
        "digits": digits,
        "phone": phone_pattern(digits, prefix=prefixes.phone),
        "hubs": hubs,
    }


async def _search_params(conn: AsyncConnection, query: str, hubs: list[str]) -> dict[str, Any]:
    """A search's parameters: a phone number's digits, and a part of an id, match at the
    start of a value when some value starts with them (a number with or without its
    country code's ``+``, an id as typed from its beginning), else anywhere in it (a
    national number without its country code, the last digits, the middle of an id)."""
    return _params(query, hubs, await _prefixes(conn, query, hubs))


async def search_lists(
    conn: AsyncConnection, query: str, hubs: list[str], limit: int
) -> dict[str, list[Any]]:
    """The dashboard's three lists: clients, channels, onboardings (``limit`` each)."""
    params = {**await _search_params(conn, query, hubs), "limit": limit}
    return {
        "clients": list(await conn.execute(_CLIENTS, params)),
        "channels": list(await conn.execute(_CHANNELS, params)),
        "onboardings": list(await conn.execute(_ONBOARDINGS, params)),
    }


def search_hits(params: dict[str, Any]) -> Subquery:
    """Every hit as one subquery, ordered by (rank, hub, ref)."""
    return (
        text(_HITS)
        .bindparams(**params)
        .columns(
            rank=Integer,
            kind=Text,
            hub=Text,
            ref=Text,
            client_id=Text,
            channel_id=Text,
            phone_number=Text,
            external_user_id=Text,
            onboarding_id=Text,
            created_at=DateTime(timezone=True),
        )
        .subquery("hits")
    )


async def search_page(
    conn: AsyncConnection, query: str, hubs: list[str], limit: int, cursor: str | None
) -> tuple[list[Row[Any]], str | None]:
    """A page of every hit (``search_hits``), in its order; and the next cursor."""
    hits = search_hits(await _search_params(conn, query, hubs))
    keyset = Keyset("search", [hits.c.rank, hits.c.hub, hits.c.ref], [int, str, str])
    return await fetch_page(conn, select(hits), keyset, limit, cursor)
