"""The funnel's question as both edges ask it: which hubs, which days, which clients; and
its answer's one shape (``GET /api/v1/funnel`` returns it, the dashboard's funnel page
draws it, so the two always show the same numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.funnel import Day, Funnel
from onboard360.domain.funnel import MAX_DAYS, Billing, ClientKind
from onboard360.web.errors import ApiError, not_found

DEFAULT_DAYS = 30
BILLING_NAMES = {"partner": "Partner Payment", "direct": "Direct Payment"}


@dataclass(frozen=True)
class FunnelQuestion:
    """What to count: these hubs' journeys started from ``first`` to ``last`` (UTC)."""

    hubs: list[str]
    first: date
    last: date
    hub: str | None
    billing: Billing | None
    client: ClientKind | None

    @property
    def returning(self) -> bool | None:
        return None if self.client is None else self.client == "returning"


def question(
    hubs: Sequence[HubConfig],
    *,
    today: date,
    first: date | None,
    last: date | None,
    hub: str | None,
    billing: Billing | None,
    client: ClientKind | None,
) -> FunnelQuestion:
    """The question, or ``ApiError``: 404 for a hub not among ``hubs``, 422
    ``invalid_range`` for days out of order or over a year, 422 ``invalid_filter`` for a
    hub of the other billing model. Without days: the last 30 days up to ``today``."""
    if last is None:
        # From a given day: its 30 days, up to today when they reach it.
        span = timedelta(days=DEFAULT_DAYS - 1)
        last = today if first is None else max(first, min(today, first + span))
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ApiError(422, "invalid_range", "from: must not be after to")
    if (last - first).days + 1 > MAX_DAYS:
        raise ApiError(422, "invalid_range", f"from..to: at most {MAX_DAYS} days at once")
    chosen = list(hubs)
    if hub is not None:
        chosen = [h for h in hubs if h.name == hub]
        if not chosen:
            raise not_found("hub")
        if billing is not None and chosen[0].billing != billing:
            raise ApiError(
                422,
                "invalid_filter",
                f"billing: hub {hub} uses {BILLING_NAMES[chosen[0].billing]}, "
                f"not {BILLING_NAMES[billing]}",
            )
    if billing is not None:
        chosen = [h for h in chosen if h.billing == billing]
    return FunnelQuestion([h.name for h in chosen], first, last, hub, billing, client)


def funnel_body(asked: FunnelQuestion, funnel: Funnel) -> dict[str, Any]:
    """``GET /api/v1/funnel``'s answer (web/api/models.py's ``Funnel``)."""
    return {
        "from": asked.first.isoformat(),
        "to": asked.last.isoformat(),
        "hubs": asked.hubs,
        "billing": asked.billing,
        "client": asked.client,
        "journeys": funnel.steps[0].reached,
        "steps": [vars(step) for step in funnel.steps],
        "outcomes": funnel.outcomes,
        "abandoned": {"total": funnel.abandoned, "by_step": funnel.abandoned_by_step},
        "resumed": funnel.resumed,
        "popup_blocked_unfinished": funnel.popup_blocked_unfinished,
        "popup_closed_unfinished": funnel.popup_closed_unfinished,
        "time_to_live": funnel.time_to_live,
    }


def day_body(day: Day) -> dict[str, Any]:
    """One item of ``GET /api/v1/funnel/days``."""
    return {"day": day.day.isoformat(), "started": day.started, **day.outcomes}
