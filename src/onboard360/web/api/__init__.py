"""The product's REST API (``/api/v1``, bearer tokens), one router per resource.

A product sees only the hubs configured with ``product = <its name>``; anything else is
answered as if it did not exist. Every list pages with a cursor (``web/pagination.py``),
every refusal is ``{"error": {"type", "code", "message"}}`` (``web/errors.py``).

| module | what |
| --- | --- |
| ``onboardings.py`` | start, list, read an onboarding |
| ``button.py`` | the official button: signed popup parameters, forwarded redirects |
| ``channels.py`` | list and read channels; read and rotate a channel's API key |
| ``clients.py`` | list and read clients; a client's timeline |
| ``overview.py`` | per-hub counts, the needs-attention lists, search |
| ``funnel.py`` | the funnel: steps, conversion, times, outcomes per day |
| ``events.py`` | the events sent to the product, with their delivery status |
| ``deliveries.py`` | an event's delivery log, replays, the endpoint's state |
| ``adoption.py`` | adopt a hub's existing channels: dry run, import keys, take over |
| ``common.py`` | the product's hubs, declared errors, parameter types |
"""

from fastapi import APIRouter, Depends

from onboard360.web.api import (
    adoption,
    button,
    channels,
    clients,
    deliveries,
    events,
    funnel,
    onboardings,
    overview,
)
from onboard360.web.api.common import NO_STORE, hub_names, product_hub, product_hubs
from onboard360.web.strict import no_unknown_query

router = APIRouter(dependencies=[Depends(no_unknown_query)])
for _module in (
    onboardings,
    button,
    channels,
    clients,
    overview,
    funnel,
    events,
    deliveries,
    adoption,
):
    router.include_router(_module.router)

__all__ = ["NO_STORE", "hub_names", "product_hub", "product_hubs", "router"]
