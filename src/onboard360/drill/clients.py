"""The drill's clients: each onboards through the product's API, the service and the popup.

One onboarding is what a browser would do, over HTTP: ``POST /api/v1/onboardings`` (the
product's server), ``GET`` its ``popup_url`` (the service signs the popup and answers 303),
the sandbox popup's forms (signup, Direct Payment card and API-key permission, numbers,
share), then the popup's redirect to the service's ``/connect/{hub}``. A client that
later revokes a number comes back to the popup with ``next=login`` and unticks it.

Requests to the service go through the balancer while web processes are being killed:
they are retried on a cut connection or a 502/503 — the redirect is safe to replay (the
service answers a repeat as it answered the first).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

SESSION_RE = re.compile(r'name="session" value="([^"]+)"')
SHARE_RE = re.compile(r'name="share" value="([^"]+)"')
ERROR_RE = re.compile(r'id="error"[^>]*>([^<]*)<')
# A 500 too: the service answers it when its database refuses a connection (a shared
# server at max_connections); such answers are counted and printed, never hidden.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
SERVICE_RETRY_SECONDS = 60.0
TEST_CARD = "4242 4242 4242 4242"


class ClientFailed(Exception):
    """An onboarding could not be walked: the message says which step answered what."""


@dataclass
class Onboarding:
    """One client's onboarding as the drill planned and did it."""

    index: int
    hub: str
    direct: bool
    email: str
    numbers: list[str]
    deny: bool = False  # Direct Payment: refuse the partner API-key permission
    # Come back and untick one number: "live" once its key is stored (its one key must
    # count once); "key_made" as soon as 360dialog counts the key (our key job may not have
    # committed it yet); "at_once" right after the redirect (before any key, mostly).
    revoke: str | None = None
    client_id: str | None = None
    channels: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    revoke_skipped: str | None = None  # why a planned revocation did not happen
    error: str | None = None
    service_retries: int = 0
    service_500s: int = 0
    seconds: float | None = None  # from its start to the redirect's answer

    @property
    def permitted(self) -> list[str]:
        """The channels the partner may manage at the end, by what this client did."""
        if self.deny:
            return []
        return [c for c in self.channels if c not in self.revoked]


def plan_onboardings(count: int, rng: random.Random) -> list[Onboarding]:
    """Half per hub; a quarter with two numbers; 20% of Direct Payment clients deny the API
    key permission; 30% of the other clients among the first 60% (so their numbers have
    time to go live before the chaos ends) later revoke a number: once their keys are live,
    as soon as 360dialog made the key, or at once."""
    plans = []
    revokers = int(count * 0.6)
    for index in range(count):
        direct = rng.random() < 0.5
        numbers = [f"+49170{index:06d}{n}" for n in range(2 if rng.random() < 0.25 else 1)]
        deny = direct and rng.random() < 0.2
        plans.append(
            Onboarding(
                index=index,
                hub="dp" if direct else "pp",
                direct=direct,
                email=f"drill-client-{index}@example.com",
                numbers=numbers,
                deny=deny,
                revoke=(
                    rng.choice(("live", "key_made", "at_once"))
                    if not deny and index < revokers and rng.random() < 0.3
                    else None
                ),
            )
        )
    return plans


@dataclass
class Walker:
    """Walks onboardings: ``service`` is the balancer (bearer token set), ``sandbox`` the
    popup's host."""

    service: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    activation_timeout: float = 30.0

    async def run(self, onboarding: Onboarding, slots: asyncio.Semaphore) -> None:
        """Onboard, then (some clients) wait for the keys and revoke a number. ``slots``
        bounds the clients busy in the popup; waiting for keys takes no slot."""
        began = time.monotonic()
        try:
            async with slots:
                await self._first_visit(onboarding)
            onboarding.seconds = time.monotonic() - began
            if onboarding.revoke in ("live", "key_made"):
                waited = time.monotonic()
                wait = self._live if onboarding.revoke == "live" else self._key_made
                if not await wait(onboarding):
                    # Its channel_running webhook was lost: the final sync catches up.
                    onboarding.revoke_skipped = (
                        f"not live after {time.monotonic() - waited:.0f}s: {onboarding.channels}"
                    )
                    return
            if onboarding.revoke:
                async with slots:
                    await self._revoke(onboarding)
        except (ClientFailed, httpx.HTTPError) as exc:
            onboarding.error = f"{type(exc).__name__}: {exc}"[:300]

    async def _service(
        self, onboarding: Onboarding, method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        deadline = time.monotonic() + SERVICE_RETRY_SECONDS
        while True:
            try:
                response = await self.service.request(method, url, **kwargs)
                if response.status_code not in RETRY_STATUSES:
                    return response
                onboarding.service_500s += response.status_code == 500
                problem = f"{method} {urlsplit(url).path} answered {response.status_code}"
            except httpx.TransportError as exc:
                problem = f"{method} {urlsplit(url).path}: {type(exc).__name__}"
            if time.monotonic() > deadline:
                raise ClientFailed(f"gave up after {SERVICE_RETRY_SECONDS:.0f}s: {problem}")
            onboarding.service_retries += 1
            await asyncio.sleep(0.2)

    async def _open_popup(self, onboarding: Onboarding, *, login: bool) -> str:
        """A new onboarding at the service; answers the signed popup URL at the sandbox."""
        created = await self._service(
            onboarding,
            "POST",
            "/api/v1/onboardings",
            json={
                "hub": onboarding.hub,
                "external_user_id": f"drill-user-{onboarding.index}",
                "email": onboarding.email,
            },
        )
        if created.status_code != 201:
            raise ClientFailed(f"POST /api/v1/onboardings: {created.status_code} {created.text}")
        opener = await self._service(onboarding, "GET", created.json()["popup_url"])
        if opener.status_code != 303:
            raise ClientFailed(f"the popup opener answered {opener.status_code}")
        location = opener.headers["location"]
        return f"{location}&next=login" if login else location

    async def _popup(
        self, onboarding: Onboarding, url: str, steps: list[tuple[str, dict[str, Any]]]
    ) -> str:
        """Open the popup and post each step's form; answers the redirect's Location."""
        page = await self.sandbox.get(url)
        match = SESSION_RE.search(page.text)
        if page.status_code != 200 or match is None:
            raise ClientFailed(f"the popup answered {page.status_code}")
        session = match[1]
        for step, given in steps:
            fields = given
            if step == "share" and given.get("share") is None:
                fields = {"share": SHARE_RE.findall(page.text)}
            page = await self.sandbox.post(
                urlsplit(url).path + f"/{step}", data={"session": session, **fields}
            )
            if page.status_code not in (200, 303):
                error = ERROR_RE.search(page.text)
                raise ClientFailed(
                    f"popup step {step} answered {page.status_code}: {error and error[1]}"
                )
        if page.status_code != 303:
            raise ClientFailed("the popup did not redirect after the permission screen")
        return page.headers["location"]

    async def _follow_redirect(self, onboarding: Onboarding, location: str) -> dict[str, str]:
        answer = await self._service(onboarding, "GET", location)
        if answer.status_code != 200:
            raise ClientFailed(f"the service refused the redirect: {answer.status_code}")
        return dict(parse_qsl(urlsplit(location).query))

    async def _first_visit(self, onboarding: Onboarding) -> None:
        steps: list[tuple[str, dict[str, Any]]] = [
            ("account", {"name": f"Drill client {onboarding.index}", "email": onboarding.email})
        ]
        if onboarding.direct:
            holder = f"Drill client {onboarding.index}"
            card = {"holder": holder, "card_number": TEST_CARD, "expiry": "12/39", "cvc": "123"}
            steps.append(("payment", card))
            choice = "deny" if onboarding.deny else "grant"
            steps.append(("api-key", {"api_key_permission": choice}))
        names = ["" for _ in onboarding.numbers]
        steps.append(("numbers", {"phone_number": onboarding.numbers, "phone_name": names}))
        steps.append(("share", {}))  # every number offered
        location = await self._popup(
            onboarding, await self._open_popup(onboarding, login=False), steps
        )
        query = await self._follow_redirect(onboarding, location)
        onboarding.client_id = query["client"]
        onboarding.channels = [c for c in query["channels"].strip("[]").split(",") if c]
        if len(onboarding.channels) != len(onboarding.numbers):
            raise ClientFailed(
                f"the redirect listed {query['channels']} for {len(onboarding.numbers)} numbers"
            )

    async def _live(self, onboarding: Onboarding) -> bool:
        """Wait until every channel of the client has its key (a revocation then revokes a
        generated key, so the sandbox must count exactly one for it). False at once when
        the sandbox dropped a channel's ``channel_running``: only the final sync can bring
        that channel live."""
        deadline = time.monotonic() + self.activation_timeout
        polls = 0
        while time.monotonic() < deadline:
            live = 0
            for channel_id in onboarding.channels:
                answer = await self._service(onboarding, "GET", f"/api/v1/channels/{channel_id}")
                live += answer.status_code == 200 and bool(answer.json()["api_key_available"])
            if live == len(onboarding.channels):
                return True
            polls += 1
            if polls % 6 == 0 and await self._running_dropped(onboarding.channels):
                return False
            await asyncio.sleep(0.5)
        return False

    async def _key_made(self, onboarding: Onboarding) -> bool:
        """Wait until 360dialog counts a key for the channel to be revoked (the first)."""
        deadline = time.monotonic() + self.activation_timeout
        polls = 0
        while time.monotonic() < deadline:
            answer = await self.sandbox.get(f"/sandbox/channels/{onboarding.channels[0]}")
            if answer.status_code == 200 and answer.json()["keys_generated"]:
                return True
            polls += 1
            if polls % 15 == 0 and await self._running_dropped(onboarding.channels[:1]):
                return False
            await asyncio.sleep(0.2)
        return False

    async def _running_dropped(self, channel_ids: list[str]) -> bool:
        answer = await self.sandbox.get(
            "/sandbox/deliveries", params={"event": "channel_running", "limit": 10_000}
        )
        return any(
            each["outcome"] == "dropped" and each["subject_id"] in channel_ids
            for each in answer.json()["deliveries"]
        )

    async def _revoke(self, onboarding: Onboarding) -> None:
        gone, kept = onboarding.channels[0], onboarding.channels[1:]
        steps: list[tuple[str, dict[str, Any]]] = [("account", {"email": onboarding.email})]
        if onboarding.direct:
            steps.append(("api-key", {"api_key_permission": "grant"}))
        steps.append(("numbers", {"phone_number": [], "phone_name": []}))
        steps.append(("share", {"share": [f"channel:{c}" for c in kept]}))
        location = await self._popup(
            onboarding, await self._open_popup(onboarding, login=True), steps
        )
        query = await self._follow_redirect(onboarding, location)
        if query.get("revoked") != f"[{gone}]":
            raise ClientFailed(f"the revocation redirect listed revoked={query.get('revoked')}")
        onboarding.revoked = [gone]
