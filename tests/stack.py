"""The whole onboarding stack for tests: the sandbox, the service, a product, a worker.

Everything talks over real HTTP on free ports; the worker runs in the test's thread with
``drain()`` (procrastinate until the queue is empty), so tests decide when jobs run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.config.settings import Settings
from onboard360.db.embedded import to_libpq_uri
from onboard360.handoff import generate_secret
from onboard360.hub import RetryPolicy
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.serving import free_port, running
from onboard360.sandbox.app import create_app as create_sandbox
from onboard360.sandbox.models import HubSpec
from onboard360.sandbox.state import Hub, Sandbox
from onboard360.web.app import create_app as create_service
from onboard360.worker.app import RetryTuning
from onboard360.worker.runner import run_worker
from tests.sandbox_fixtures import FAST, WebhookSink, wait_until

FAST_RETRY = RetryPolicy(attempts=3, timeout=10, wait_initial=0, wait_max=0.01, wait_jitter=0)
NO_WAIT = RetryTuning(
    exponential_wait=0,
    hub_attempts=3,
    delivery_attempts=3,
    delivery_first_wait=0,
    delivery_max_wait=0,
)
PRODUCT_TOKEN = "product-token-" + "t" * 24


@dataclass
class Stack:
    settings: Settings
    database_url: str
    sandbox: Sandbox
    sandbox_url: str
    service_url: str
    product: WebhookSink
    api: httpx.Client  # the product's REST client (bearer token)

    def hub(self, name: str) -> HubConfig:
        hub = self.settings.hub(name)
        assert hub is not None
        return hub

    def sandbox_hub(self, name: str) -> Hub:
        return self.sandbox.hub(self.hub(name).partner_id)

    def settle(self) -> None:
        """Wait for the sandbox to deliver its webhooks, then run every job."""
        self.settle_with()

    def wait_for_webhooks(self) -> None:
        def idle() -> bool:
            answer = httpx.get(f"{self.sandbox_url}/sandbox/deliveries", params={"limit": 1})
            return bool(answer.json()["pending"] == 0)

        wait_until(idle, what="the sandbox to deliver its webhooks")

    def drain(self, **options: Any) -> None:
        """Run jobs until none is left (``options``: see worker)."""
        asyncio.run(self.worker(until_idle=True, concurrency=1, **options))

    def settle_with(self, **options: Any) -> None:
        """settle, with a worker given ``options`` (a ``retry``, a ``tuning``)."""
        self.wait_for_webhooks()
        self.drain(**options)

    def worker(
        self, *, until_idle: bool, concurrency: int, **options: Any
    ) -> Coroutine[Any, Any, None]:
        """A worker for these settings, with no waits between retries; ``options`` go to
        run_worker (a ``watch``, a ``metrics_port``)."""
        return run_worker(
            self.settings,
            self.database_url,
            until_idle=until_idle,
            retry=options.pop("retry", FAST_RETRY),
            tuning=options.pop("tuning", NO_WAIT),
            install_signal_handlers=False,
            concurrency=concurrency,
            **options,
        )

    def start_onboarding(self, hub: str, user: str = "user-1", **prefill: str) -> dict[str, Any]:
        answer = self.api.post(
            "/api/v1/onboardings", json={"hub": hub, "external_user_id": user, **prefill}
        )
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def redirect_running_channel(self, hub: str = "pp", phone: str = "+4915100000001") -> str:
        """A client onboarded in the sandbox with one running channel, redirected to us.

        The sandbox's webhooks are on their way; nothing is processed yet (see settle)."""
        state = httpx.URL(self.start_onboarding(hub)["connect_url"]).params["start"]
        client = self.sandbox.create_client(self.hub(hub).partner_id, "Acme", "a@acme.test")
        channel = self.sandbox.create_channel(client.id, phone)
        self.sandbox.set_status(channel.id, "running")
        answer = self.api.get(
            f"{self.service_url}/connect/{hub}",
            params={"client": client.id, "channels": f"[{channel.id}]", "state": state},
        )
        assert answer.status_code == 200, answer.text
        return channel.id

    def env(self) -> dict[str, str]:
        """These settings as ONBOARD360_* variables, secrets revealed: for CLI processes."""

        def plain(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        def dump(models: list[Any]) -> str:
            return json.dumps([plain(dict(m)) for m in models])

        s = self.settings
        timers = {
            "ONBOARD360_ONBOARDING_TTL_SECONDS": str(s.onboarding_ttl_seconds),
            "ONBOARD360_ABANDON_AFTER_HOURS": str(s.abandon_after_hours),
            "ONBOARD360_ABANDON_NOTIFY_WITHIN_HOURS": str(s.abandon_notify_within_hours),
            # A command (`onboard360 abandon`) then reads the same clock as the service.
            **({"ONBOARD360_TEST_CLOCK_URL": s.test_clock_url} if s.test_clock_url else {}),
        }
        return {
            **timers,
            "ONBOARD360_DATABASE_URL": to_libpq_uri(self.database_url),
            "ONBOARD360_PUBLIC_URL": self.settings.public_url,
            "ONBOARD360_ENCRYPTION_KEYS": json.dumps(plain(self.settings.encryption_keys)),
            "ONBOARD360_HUBS": dump(self.settings.hubs),
            "ONBOARD360_PRODUCTS": dump(self.settings.products),
            "ONBOARD360_RECONCILE_CRON": self.settings.reconcile_cron,
            "ONBOARD360_ABANDON_CRON": self.settings.abandon_cron,
            "ONBOARD360_DATABASE_POOL_MODE": self.settings.database_pool_mode,
        }

    def product_events(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.product.requests()]


def hub_pair(
    service_url: str,
    *,
    auto_advance: bool = False,
    step_delay_seconds: float = 0.0,
    io_signature: bool = False,
    echo_state: bool = True,
    redirect_urls: Mapping[str, str] | None = None,
) -> tuple[list[HubConfig], list[HubSpec]]:
    """A Partner Payment hub `pp` and a Direct Payment hub `dp`, both sides.

    ``redirect_urls`` replaces a hub's Redirect URL (default: the service's connect page),
    e.g. with a page hosting the official button.
    """
    configs, specs = [], []
    for name, billing, pid in (("pp", "partner", "StackPartPA"), ("dp", "direct", "StackDirPA")):
        webhook_secret = secrets.token_urlsafe(24)
        platform_secret = secrets.token_urlsafe(24)
        api_key = secrets.token_urlsafe(24)
        specs.append(
            HubSpec(
                partner_id=pid,
                billing=billing,
                redirect_url=(redirect_urls or {}).get(name, f"{service_url}/connect/{name}"),
                webhook_url=f"{service_url}/hooks/360dialog/{name}/{webhook_secret}",
                api_key=api_key,
                platform_secret=platform_secret,
                io_signature=io_signature and billing == "partner",
                auto_advance=auto_advance,
                step_delay_seconds=step_delay_seconds,
                echo_state=echo_state,
            )
        )
        configs.append(
            HubConfig(
                name=name,
                partner_id=pid,
                billing=billing,  # type: ignore[arg-type]
                api_key=SecretStr(api_key),
                platform_secret=SecretStr(platform_secret),
                io_signature=io_signature and billing == "partner",
                webhook_secret=SecretStr(webhook_secret),
            )
        )
    return configs, specs


@contextlib.contextmanager
def running_stack(
    database_url: str,
    *,
    messaging_webhook: bool = False,
    hub_overrides: dict[str, dict[str, Any]] | None = None,
    extra_products: Sequence[ProductConfig] = (),
    product_overrides: Mapping[str, Any] | None = None,
    hub_options: Mapping[str, Any] | None = None,
    sandbox_port: int | None = None,
    product_frame_ancestors: Sequence[str] = (),
    **setting_overrides: Any,
) -> Iterator[Stack]:
    """The whole stack; ``hub_overrides`` changes hub fields by hub name (e.g. its
    ``product`` or ``webhook_header``), ``extra_products`` adds products beside "default",
    ``product_overrides`` changes fields of "default" (e.g. ``webhook_timeout_seconds``).
    ``hub_options`` go to ``hub_pair`` (e.g. ``auto_advance``); the sandbox listens on
    ``sandbox_port`` when given (the official button's env="local" needs 8082)."""
    service_port = free_port()
    service_url = f"http://127.0.0.1:{service_port}"
    configs, specs = hub_pair(service_url, **(hub_options or {}))
    sink = WebhookSink()
    sandbox = Sandbox()
    with (
        running(sink.app()) as product_url,
        running(
            create_sandbox(specs, sandbox=sandbox, webhook_settings=FAST), port=sandbox_port
        ) as sandbox_url,
    ):
        hubs = [
            hub.model_copy(
                update={
                    "hub_url": sandbox_url,
                    "partner_api_url": f"{sandbox_url}/api/v2",
                    "messaging_api_url": sandbox_url,
                    **(hub_overrides or {}).get(hub.name, {}),
                }
            )
            for hub in configs
        ]
        product = ProductConfig(
            name="default",
            webhook_url=f"{product_url}/product",
            webhook_secrets=[SecretStr(generate_secret())],
            api_tokens=[SecretStr(PRODUCT_TOKEN)],
            messaging_webhook_url=f"{product_url}/inbound" if messaging_webhook else None,
            frame_ancestors=list(product_frame_ancestors),
            **(product_overrides or {}),
        )
        settings = Settings(
            public_url=service_url,
            encryption_keys=[SecretStr(generate_key())],
            hubs=hubs,
            products=[product, *extra_products],
            # Periodic jobs a test's drain would otherwise pick up by chance (the cron's
            # latest tick is within procrastinate's max_delay): tests run them themselves.
            **{"reconcile_cron": "", "abandon_cron": "", **setting_overrides},
        )
        app = create_service(settings, database_url, retry=FAST_RETRY)
        with (
            running(app, port=service_port),
            httpx.Client(
                base_url=service_url,
                headers={"Authorization": f"Bearer {PRODUCT_TOKEN}"},
                timeout=10,
            ) as api,
        ):
            yield Stack(settings, database_url, sandbox, sandbox_url, service_url, sink, api)
