"""Everything a web process or a worker needs, built once from the settings and passed in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import httpx
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.config.settings import ConfigError, Settings
from onboard360.db.pooling import service_engine
from onboard360.hub import ApiKeyAuth, HubAuth, MessagingAPI, PartnerAPI, RetryPolicy, TokenAuth
from onboard360.runtime import clock
from onboard360.runtime.crypto import Keyring, KeyringError
from onboard360.runtime.logging import get_logger

log = get_logger(__name__)


class UnknownHub(LookupError):
    """No hub of that name is configured."""


@dataclass
class Service:
    settings: Settings
    engine: AsyncEngine
    keyring: Keyring
    http: httpx.AsyncClient
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    _partner_apis: dict[tuple[str, bool], PartnerAPI] = field(default_factory=dict, repr=False)
    _auths: dict[str, HubAuth] = field(default_factory=dict, repr=False)

    def hub(self, name: str) -> HubConfig:
        hub = self.settings.hub(name)
        if hub is None:
            raise UnknownHub(name)
        return hub

    def product_of(self, hub: HubConfig) -> ProductConfig:
        product = self.settings.product(hub.product)
        if product is None:  # settings validation makes this impossible
            raise UnknownHub(hub.product)
        return product

    def partner_api(self, hub: HubConfig, *, quick: bool = False) -> PartnerAPI:
        """One client per hub, so a bearer token is fetched once and shared.

        ``quick``: for a person's request (a redirect being verified), few short retries;
        what cannot be answered quickly is left to a job.
        """
        api = self._partner_apis.get((hub.name, quick))
        if api is None:
            auth = self._auths.get(hub.name)
            if auth is None:
                auth = self._auths[hub.name] = hub_auth(hub)
            api = PartnerAPI(
                hub.partner_id,
                auth,
                base_url=hub.partner_api_url,
                client=self.http,
                retry=quick_retry(self.retry) if quick else self.retry,
            )
            self._partner_apis[hub.name, quick] = api
        return api

    def messaging_api(self, hub: HubConfig, *, once: bool = False) -> MessagingAPI:
        """``once``: a single try, no retry (the key health check: a 429 or a 5xx ends
        the check there, and the next round tries again)."""
        retry = replace(self.retry, attempts=1) if once else self.retry
        return MessagingAPI(base_url=hub.messaging_api_url, client=self.http, retry=retry)


def quick_retry(retry: RetryPolicy) -> RetryPolicy:
    """At most two tries within eight seconds, never slower than ``retry``."""
    return replace(
        retry,
        attempts=min(retry.attempts, 2),
        timeout=min(retry.timeout, 8.0),
        wait_max=min(retry.wait_max, 1.0),
        wait_jitter=min(retry.wait_jitter, 0.2),
    )


def hub_auth(hub: HubConfig) -> HubAuth:
    if hub.api_key is not None:
        return ApiKeyAuth(hub.api_key)
    if hub.username is None or hub.password is None:  # HubConfig refuses this already
        raise ConfigError(f"hub {hub.name}: set api_key, or username and password")
    return TokenAuth(hub.username, hub.password)


def keyring_from(settings: Settings) -> Keyring:
    if not settings.encryption_keys:
        raise ConfigError(
            "encryption_keys is empty: set ONBOARD360_ENCRYPTION_KEYS to a JSON list of "
            "Fernet keys (make one with `onboard360 generate-key`)"
        )
    try:
        return Keyring.from_keys(settings.encryption_keys)
    except KeyringError as exc:
        raise ConfigError(str(exc)) from None


@asynccontextmanager
async def open_service(
    settings: Settings, database_url: str, *, retry: RetryPolicy | None = None
) -> AsyncIterator[Service]:
    keyring = keyring_from(settings)
    retry = retry or RetryPolicy()
    engine = service_engine(settings, database_url)
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(retry.request_timeout, connect=min(5.0, retry.request_timeout))
    )
    follower = None
    try:  # everything opened above is closed below, whatever happens from here
        if settings.test_clock_url:
            follower = await _start_following(settings.test_clock_url, http, engine)
        yield Service(settings, engine, keyring, http, retry)
    finally:
        if follower is not None:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        if settings.test_clock_url:
            clock.SERVICE_CLOCK.follow(0)
        await http.aclose()
        await engine.dispose()


async def _start_following(
    url: str, http: httpx.AsyncClient, engine: AsyncEngine
) -> asyncio.Task[None]:
    """Follow the test clock at ``url``: read it once before anything runs (a command's
    first clock.now(), `onboard360 abandon` sweeping at once, is then already the test
    clock's), then keep following it in a task."""
    log.warning("following a test clock: for tests only", url=url)
    ahead = await read_test_clock(url, http)
    applied = None if ahead is None else await move_queue(engine, ahead)
    return asyncio.create_task(follow_test_clock(url, http, engine, applied=applied))


async def follow_test_clock(
    url: str,
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    *,
    applied: float | None = None,
    every: float = 0.1,
) -> None:
    """Keep onboard360's clock as far ahead of real time as the test clock at ``url`` (a
    sandbox's /sandbox/clock) is: its ``advance`` then expires onboardings here too, and
    brings due the retries it skipped over (``move_queue``; ``applied``: how far ahead
    this process last moved the queue). Tests only (``test_clock_url``); an unreachable
    clock leaves ours where it was."""
    readable = True
    while True:
        ahead = await read_test_clock(url, http, was_readable=readable)
        readable = ahead is not None
        if ahead is not None and ahead != applied:
            moved = await move_queue(engine, ahead)
            applied = applied if moved is None else moved
        await asyncio.sleep(every)


# Jobs waiting for a retry move as far earlier as the clock moved ahead (migration 0020).
_FOLLOW_QUEUE = text("SELECT follow_test_clock(:ahead)")


async def move_queue(engine: AsyncEngine, ahead: float) -> float | None:
    """Tell the queue the test clock is ``ahead`` seconds ahead (once per move, whichever
    process sees it first: migration 0020); answers ``ahead``, or None when the database
    did not answer (logged; the next poll tries again)."""
    try:
        async with engine.begin() as conn:
            await conn.execute(_FOLLOW_QUEUE, {"ahead": ahead})
    except (DBAPIError, OSError) as exc:
        log.warning("test clock: queue not moved", error=type(exc).__name__)
        return None
    return ahead


async def read_test_clock(
    url: str, http: httpx.AsyncClient, *, was_readable: bool = True
) -> float | None:
    """Set onboard360's clock from the test clock at ``url`` once; how far ahead it is,
    or None when it did not answer (logged when it stops answering; ours stays where it
    was)."""
    try:
        answer = await http.get(url, timeout=2)
        ahead = float(answer.json()["ahead_seconds"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        if was_readable:
            log.warning("test clock unreadable", url=url)
        return None
    clock.SERVICE_CLOCK.follow(ahead)
    return ahead
