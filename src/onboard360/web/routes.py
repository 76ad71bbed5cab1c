"""Every router of the service app, in one list."""

from onboard360.web import api, connect, dashboard, partner_webhooks

ROUTERS = [
    connect.router,
    partner_webhooks.router,
    api.router,
    *dashboard.ROUTERS,
]
