"""The operator dashboard at ``/dashboard``: server-rendered, no build step.

| module | what |
| --- | --- |
| ``sessions.py`` | session cookies, CSRF tokens, the login rate limit, the route class |
| ``auth.py`` | login, logout, static files |
| ``overview.py`` | per hub: onboardings by stage, channels by state, needs-attention lists |
| ``funnel.py`` | conversion and time per step, outcomes per day, time to live (SVG) |
| ``search.py`` | by phone number, client id, channel id, the partner's user id |
| ``clients.py`` | a client's channels and timeline |
| ``actions.py`` | retry provisioning, rotate a key, resend an event, reconcile a client |
| ``confirmed.py`` | the one action framework: plan, confirm, do and audit in one transaction |
| ``claims.py`` | claim a client for a product user, or re-assign it (audited) |
| ``deliveries.py`` | a product's endpoint (disable, enable), replays, an event's attempts |
| ``links.py`` | the re-permission link |
| ``adoption.py`` | adopt a hub's existing clients: dry run, import keys, take over |

Operator accounts and the audit log are commands: services/accounts.py, services/audit.py.
See docs/dashboard.md.
"""

from onboard360.web.dashboard import (
    actions,
    adoption,
    auth,
    claims,
    clients,
    deliveries,
    funnel,
    links,
    overview,
    search,
)

ROUTERS = [
    auth.router,
    overview.router,
    funnel.router,
    search.router,
    clients.router,
    actions.router,
    claims.router,
    deliveries.router,
    links.router,
    adoption.router,
]

__all__ = ["ROUTERS"]
