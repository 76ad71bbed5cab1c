"""The drill's partner product: a process that receives onboard360's events like a real one.

- ``POST /events``: verifies the Standard Webhooks signature (``handoff.verify``; a bad one
  is counted and refused with 400), de-duplicates on ``webhook-id``, counts each event
  type per channel;
- on ``channel.activated`` it fetches the channel's key (``GET /api/v1/channels/{id}/
  api-key``, through the balancer, retrying while web processes are being killed) and
  checks it works at the sandbox's Messaging API (``GET /v1/configs/webhook``);
- ``POST /inbound`` is every channel's messaging webhook (nothing arrives in the drill);
- ``POST /faults`` makes it misbehave: every delivery answered one status (an outage,
  with ``Retry-After: 1``), or a share answered 500 and a share answered past
  onboard360's timeout (``webhook_timeout_seconds``) — such a delivery is counted when
  its answer is sent, and its retry is a redelivery;
- ``GET /report`` answers everything it counted; ``POST /recheck`` checks every key it
  holds at the sandbox again (the drill asks once faults are off and everything settled).

Run as ``python -m onboard360.drill.product PORT`` with ``ONBOARD360_DRILL_PRODUCT`` (JSON:
service_url, sandbox_url, api_token, webhook_secret, inbound_url).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from onboard360.handoff import SignatureError, verify

KEY_TIMEOUT_SECONDS = 120.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MESSAGING_KEY_HEADER = "D360-API-KEY"


@dataclass
class ChannelSeen:
    events: Counter[str] = field(default_factory=Counter)
    activated_ids: set[str] = field(default_factory=set)
    key_sha: str | None = None
    key_version: int | None = None
    key_check: str | None = None  # ok | no_key (409) | rejected (the sandbox said 401) | …
    key: str | None = field(default=None, repr=False)  # never shown, never logged


@dataclass
class Ledger:
    deliveries: int = 0
    redeliveries: int = 0  # a webhook-id seen before: ignored
    bad_signatures: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    channels: dict[str, ChannelSeen] = field(default_factory=lambda: defaultdict(ChannelSeen))
    seen: set[str] = field(default_factory=set)
    busy: int = 0  # key fetches in progress

    def report(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries,
            "redeliveries": self.redeliveries,
            "bad_signatures": self.bad_signatures,
            "distinct_events": len(self.seen),
            "by_type": dict(self.by_type),
            "busy": self.busy,
            "channels": {
                cid: {
                    "events": dict(seen.events),
                    "activated_ids": sorted(seen.activated_ids),
                    "key_sha": seen.key_sha,
                    "key_version": seen.key_version,
                    "key_check": seen.key_check,
                }
                for cid, seen in self.channels.items()
            },
        }


def key_sha(key: str) -> str:
    """A fingerprint to compare keys by, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


async def call(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request, retried while the answer is a transport error, a 429 or a 5xx."""
    deadline = time.monotonic() + KEY_TIMEOUT_SECONDS
    wait = 0.1
    while True:
        try:
            response = await http.request(method, url, **kwargs)
            if response.status_code not in RETRY_STATUSES:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        else:
            if time.monotonic() > deadline:
                return response
        await asyncio.sleep(wait)
        wait = min(wait * 2, 2.0)


@dataclass
class Trouble:
    """How the product misbehaves now (the drill sets it, ``POST /faults``): every delivery
    answered ``status``, or a share answered 500 and a share answered too late."""

    status: int | None = None
    fail_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 0.0
    refused: int = 0
    hung: int = 0


@dataclass
class Product:
    """The product's behaviour, apart from its routes."""

    config: dict[str, Any]
    ledger: Ledger = field(default_factory=Ledger)
    trouble: Trouble = field(default_factory=Trouble)
    rng: random.Random = field(default_factory=random.Random)
    service: httpx.AsyncClient | None = None  # the balancer, with the product's token
    sandbox: httpx.AsyncClient | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def receive(self, headers: Mapping[str, str], body: bytes) -> int:
        """Take one event delivery; answers the HTTP status to reply with."""
        ledger = self.ledger
        ledger.deliveries += 1
        try:
            verify(self.config["webhook_secret"], headers, body, now=int(time.time()))
        except SignatureError:
            ledger.bad_signatures += 1
            return 400
        webhook_id = headers["webhook-id"]
        if webhook_id in ledger.seen:
            ledger.redeliveries += 1
            return 200
        ledger.seen.add(webhook_id)
        event = json.loads(body)
        kind = event["type"]
        ledger.by_type[kind] += 1
        channel_id = (event.get("data") or {}).get("channel_id")
        if channel_id:
            seen = ledger.channels[channel_id]
            seen.events[kind] += 1
            if kind == "channel.activated":
                seen.activated_ids.add(webhook_id)
                ledger.busy += 1
                task = asyncio.create_task(self.fetch_key(channel_id))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        return 200

    async def fetch_key(self, channel_id: str) -> None:
        seen = self.ledger.channels[channel_id]
        assert self.service is not None
        try:
            answer = await call(self.service, "GET", f"/api/v1/channels/{channel_id}/api-key")
            if answer.status_code == 409:
                seen.key_check = "no_key"  # revoked or refused since it was activated
                return
            if answer.status_code != 200:
                seen.key_check = f"http_{answer.status_code}"
                return
            body = answer.json()
            seen.key, seen.key_version = body["api_key"], body["key_version"]
            seen.key_sha = key_sha(body["api_key"])
            seen.key_check = await self.check_key(seen)
        except Exception as exc:  # the drill reports it; the product keeps running
            seen.key_check = f"error: {type(exc).__name__}"
        finally:
            self.ledger.busy -= 1

    async def check_key(self, seen: ChannelSeen) -> str:
        """Does 360dialog take the key (Messaging API, GET /v1/configs/webhook)?"""
        assert self.sandbox is not None
        if seen.key is None:
            return "no_key"
        answer = await call(
            self.sandbox, "GET", "/v1/configs/webhook", headers={MESSAGING_KEY_HEADER: seen.key}
        )
        if answer.status_code == 401:
            return "rejected"
        return "ok" if answer.status_code == 200 else f"http_{answer.status_code}"

    async def recheck(self) -> dict[str, str]:
        held = [(cid, seen) for cid, seen in self.ledger.channels.items() if seen.key]
        results = await asyncio.gather(*(self.check_key(seen) for _, seen in held))
        return {cid: result for (cid, _), result in zip(held, results, strict=True)}


def create_app(config: dict[str, Any]) -> FastAPI:
    product = Product(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        token = {"Authorization": f"Bearer {config['api_token']}"}
        async with (
            httpx.AsyncClient(base_url=config["service_url"], headers=token, timeout=10) as api,
            httpx.AsyncClient(base_url=config["sandbox_url"], timeout=10) as sandbox,
        ):
            product.service, product.sandbox = api, sandbox
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/events")
    async def events(request: Request) -> Response:
        trouble = product.trouble
        failing = trouble.status or (500 if product.rng.random() < trouble.fail_rate else None)
        if failing:
            trouble.refused += 1
            return Response(status_code=failing, headers={"Retry-After": "1"})
        if product.rng.random() < trouble.hang_rate:
            trouble.hung += 1
            await asyncio.sleep(trouble.hang_seconds)  # onboard360 gave up meanwhile
        return Response(status_code=product.receive(request.headers, await request.body()))

    @app.post("/faults")
    async def faults(request: Request) -> dict[str, Any]:
        refused, hung = product.trouble.refused, product.trouble.hung
        product.trouble = Trouble(**(await request.json()), refused=refused, hung=hung)
        return {"refused": refused, "hung": hung}

    @app.post("/inbound")
    async def inbound() -> Response:
        return Response(status_code=200)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/report")
    async def report() -> dict[str, Any]:
        return product.ledger.report()

    @app.post("/recheck")
    async def recheck() -> dict[str, Any]:
        return {"checks": await product.recheck()}

    return app


def main(argv: list[str] | None = None) -> None:
    from onboard360.runtime.serving import Site, serve_all  # noqa: PLC0415

    args = sys.argv[1:] if argv is None else argv
    port = int(args[0])
    config = json.loads(os.environ["ONBOARD360_DRILL_PRODUCT"])
    asyncio.run(serve_all([Site(create_app(config), "127.0.0.1", port)]))


if __name__ == "__main__":
    main()
