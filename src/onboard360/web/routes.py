"""Every router of the service app, in one list."""

from onboard360.web import api, api_events, connect, dashboard, partner_webhooks

ROUTERS = [
    connect.router,
    partner_webhooks.router,
    api.router,
    api_events.router,
    *dashboard.ROUTERS,
]
