"""Which onboarding attempt a redirect belongs to: first-party context first, ``state`` second.

360dialog's docs list only ``client``, ``channels`` and ``revoked`` on the redirect; that
``state`` comes back is unverified, so nothing may depend on it. The popup opener
(``/connect/{hub}/popup``) is the moment a browser starts an attempt: it sets a cookie
there, and the popup carries it when 360dialog sends it back to ``/connect/{hub}``.

- One cookie per attempt, named after the attempt's id, holding an unguessable token; the
  database keeps only the token's sha256 and when the popup was opened. HttpOnly,
  SameSite=Lax (the redirect is a top-level GET navigation, so Lax cookies go with it),
  scoped to the hub's connect path, and it lives as long as the attempt does.
- Opening the same attempt again (or in another browser) issues a new token: the last
  browser to open the popup holds the attempt; an older copy of the cookie is ignored.
- ``state``, when present, must name an attempt whose cookie this browser holds (if it
  holds any): a mismatch refuses and changes nothing. Without a cookie, ``state`` alone
  identifies the attempt (the sandbox, the hub if it echoes, a popup opened elsewhere).
- Without ``state``, the browser's attempts decide: a replay of a redirect an attempt
  already recorded goes to that attempt; otherwise the open attempt whose popup was opened
  last (the hosted button reuses one named popup window, so a newer opening replaced the
  older popup). Open attempts of two different product users in one browser are
  ambiguous: refused rather than guessed.
- Nothing at all (no cookie of ours, no state): None — a redirect with no attempt of ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.onboardings import onboarding_by_state, onboardings_by_ids
from onboard360.domain import RedirectResult
from onboard360.runtime import clock
from onboard360.services import attempts as attempt_service
from onboard360.services.redirects import is_repeat
from onboard360.web.onboardings import OnboardingRefused, state_digest

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

COOKIE_PREFIX: Final = "onboard360_attempt_"
# Set beside the attempt's cookie when the popup was blocked and the person went on in the
# connect page's own tab: only how the page that comes back speaks, never who it is.
TAB_PREFIX: Final = "onboard360_tab_"
# A browser that opened more popups than this within an attempt's lifetime is not a person.
MAX_COOKIES: Final = 8


@dataclass(frozen=True)
class AttemptCookie:
    """What the popup opener sets (``Response.set_cookie`` keywords, besides secure)."""

    key: str
    value: str
    path: str
    max_age: int


def cookie_path(hub: HubConfig) -> str:
    """The hub's connect path: the popup opener, the redirect and the progress poll."""
    return f"/connect/{hub.name}"


def cookie_name(onboarding_id: uuid.UUID) -> str:
    return f"{COOKIE_PREFIX}{onboarding_id.hex}"


async def popup_opened(engine: AsyncEngine, hub: HubConfig, row: Row[Any]) -> AttemptCookie:
    """Record that this browser opened the attempt's popup; the cookie that says so."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    await attempt_service.popup_opened(engine, row.id, state_digest(token), now)
    lifetime = int((row.expires_at - now).total_seconds())
    return AttemptCookie(cookie_name(row.id), token, cookie_path(hub), max(lifetime, 1))


def tab_cookie(
    cookie: AttemptCookie, cookies: Mapping[str, str], *, in_tab: bool
) -> AttemptCookie | None:
    """The marker that the attempt of ``cookie`` went on in the connect page's tab; when it
    opens as a popup again, the marker the browser holds is cleared (max_age 0)."""
    key = TAB_PREFIX + cookie.key.removeprefix(COOKIE_PREFIX)
    if in_tab:
        return AttemptCookie(key, "1", cookie.path, cookie.max_age)
    return AttemptCookie(key, "", cookie.path, 0) if key in cookies else None


def came_back_in_tab(row: Row[Any], cookies: Mapping[str, str]) -> bool:
    """Whether the redirect of attempt ``row`` came back to the tab that opened it."""
    return cookies.get(TAB_PREFIX + row.id.hex) == "1"


def attempt_cookies(cookies: Mapping[str, str]) -> dict[uuid.UUID, str]:
    """The attempt cookies a request carries, by attempt id (malformed ones ignored)."""
    found: dict[uuid.UUID, str] = {}
    for name, value in cookies.items():
        if not name.startswith(COOKIE_PREFIX) or not value or len(value) > 100:
            continue
        try:
            found[uuid.UUID(hex=name.removeprefix(COOKIE_PREFIX))] = value
        except ValueError:
            continue
        if len(found) == MAX_COOKIES:
            break
    return found


async def browser_attempts(
    conn: AsyncConnection, hub: HubConfig, cookies: Mapping[str, str], *, lock: bool = False
) -> list[Row[Any]]:
    """The hub's attempts this browser provably opened (the cookie's token matches)."""
    held = attempt_cookies(cookies)
    if not held:
        return []
    rows = await onboardings_by_ids(conn, hub.name, held, lock=lock)
    return [
        row
        for row in rows
        if row.attempt_cookie_sha256 is not None
        and hmac.compare_digest(row.attempt_cookie_sha256, state_digest(held[row.id]))
    ]


def popup_state(row: Row[Any]) -> str:
    """The ``state`` handed to a popup the partner opens itself (the official button).

    The button leaves the redirect's query, state included, in its page's URL, so this is
    not the attempt's state (a capability for its connect and progress pages) but a tag
    derived from what the database keeps: unguessable, stable, and worth nothing alone.
    """
    digest = hashlib.sha256(b"onboard360 popup state\x00" + row.state_sha256).digest()
    return "o360-" + base64.urlsafe_b64encode(digest[:24]).decode()


def state_agrees(row: Row[Any], state: str | None) -> bool:
    """Whether a redirect's ``state`` (None: not echoed) fits attempt ``row``: its own
    state (the hosted flow) or its popup_state (a popup the partner opened)."""
    if state is None:
        return True
    by_state = hmac.compare_digest(row.state_sha256, state_digest(state))
    return by_state or hmac.compare_digest(popup_state(row).encode(), state.encode())


async def held(
    conn: AsyncConnection, hub: HubConfig, cookies: Mapping[str, str], attempt: str
) -> Row[Any]:
    """Attempt ``attempt`` (its id in hex), if this browser holds its cookie."""
    try:
        wanted = uuid.UUID(hex=attempt)
    except ValueError:
        wanted = None
    row = next((r for r in await browser_attempts(conn, hub, cookies) if r.id == wanted), None)
    if row is None:
        raise OnboardingRefused(
            "This browser did not open that onboarding: start again from the partner's page.",
            status=400,
        )
    return row


async def identify(
    conn: AsyncConnection, hub: HubConfig, cookies: Mapping[str, str], redirect: RedirectResult
) -> Row[Any] | None:
    """The attempt ``redirect`` belongs to, locked for update; None when nothing of ours
    points to one. Raises OnboardingRefused when the browser's context and ``state``
    disagree, or the state is unknown."""
    if redirect.state is not None:
        row = await onboarding_by_state(conn, hub.name, state_digest(redirect.state), lock=True)
        if row is None:
            raise OnboardingRefused(
                "This onboarding is unknown here: start again from the partner's page.", status=400
            )
        if _holds(row, cookies):
            return row
        if await browser_attempts(conn, hub, cookies):
            raise OnboardingRefused(
                "This window belongs to another onboarding than the one this browser "
                "started: start again from the partner's page.",
                status=400,
            )
        return row
    return _choose(await browser_attempts(conn, hub, cookies, lock=True), redirect)


def _holds(row: Row[Any], cookies: Mapping[str, str]) -> bool:
    """Whether the browser holds ``row``'s current cookie (looked up by name, so however
    many other attempt cookies it carries)."""
    token = cookies.get(cookie_name(row.id), "")
    return (
        bool(token)
        and row.attempt_cookie_sha256 is not None
        and hmac.compare_digest(row.attempt_cookie_sha256, state_digest(token))
    )


def _choose(held: list[Row[Any]], redirect: RedirectResult) -> Row[Any] | None:
    if not held:
        return None
    replayed = [row for row in held if is_repeat(row, redirect)]
    if replayed:
        return replayed[0]
    now = clock.now()
    open_ = [row for row in held if row.redirected_at is None and row.expires_at > now]
    if len({row.external_user_id for row in open_}) > 1:
        raise OnboardingRefused(
            "This browser started onboardings for more than one account: start again "
            "from the partner's page, one at a time.",
            status=409,
        )
    # The newest opening; with none open, the newest attempt says why (expired, completed).
    return max(open_ or held, key=lambda row: row.popup_opened_at)
