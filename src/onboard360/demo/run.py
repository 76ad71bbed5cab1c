"""`onboard360 demo`: the real service, the sandbox, a worker and an example product.

One process, one event loop, an embedded PostgreSQL, no account and no network:

- the sandbox (an offline 360dialog) with two Partner Hubs — Partner Payment (popup
  signed with an IO Signature, webhooks signed with the platform secret) and Direct
  Payment — whose Redirect URL is the service's hosted connect page and whose Partner
  Webhook URL is the service's secret webhook path;
- the service (``onboard360.web.app``) configured for those hubs, talking to the sandbox;
- a worker (``onboard360.worker.runner``): webhooks, keys, events to the product;
- an example partner product (``onboard360.demo.product``): the one page to open.

Every secret is generated at start and lives only in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.config.settings import Settings
from onboard360.demo.product import ProductHub, ProductSetup, create_product_app
from onboard360.handoff import generate_secret
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.serving import Site, port_is_free, serve_all
from onboard360.sandbox.models import HubSpec

PRODUCT_NAME = "example"
# The demo's operator account; its password is generated on every start and printed.
OPERATOR_EMAIL = "demo@example.com"


@dataclass(frozen=True)
class DemoHub:
    name: str
    partner_id: str
    billing: str
    label: str
    about: str
    io_signature: bool


HUBS = (
    DemoHub(
        "partner",
        "DemoPartnerPA",
        "partner",
        "Partner Payment",
        "You pay 360dialog and may generate keys for your clients' numbers. "
        "The popup link is signed server-side (IO Signature).",
        io_signature=True,
    ),
    DemoHub(
        "direct",
        "DemoDirectPA",
        "direct",
        "Direct Payment",
        "Your client pays 360dialog by card and decides whether you may generate "
        "API keys for their numbers.",
        io_signature=False,
    ),
)


@dataclass(frozen=True)
class DemoPorts:
    host: str
    product: int = 8090
    service: int = 8080
    sandbox: int = 8082

    @property
    def shown_host(self) -> str:
        # Listening on every interface still means a browser on this machine uses loopback.
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104

    def url(self, port: int) -> str:
        return f"http://{self.shown_host}:{port}"

    def busy(self) -> list[int]:
        return [
            p for p in (self.product, self.service, self.sandbox) if not port_is_free(self.host, p)
        ]


@dataclass(frozen=True)
class Demo:
    """Everything the demo's three apps are told, built once with fresh secrets."""

    ports: DemoPorts
    settings: Settings
    sandbox_hubs: list[HubSpec]
    product: ProductSetup

    @property
    def product_url(self) -> str:
        return self.ports.url(self.ports.product)

    @property
    def dashboard_url(self) -> str:
        return f"{self.ports.url(self.ports.service)}/dashboard"


def build_demo(ports: DemoPorts, step_delay_seconds: float, data_dir: Path) -> Demo:
    service_url = ports.url(ports.service)
    sandbox_url = ports.url(ports.sandbox)
    product_url = ports.url(ports.product)
    specs, configs = [], []
    for hub in HUBS:
        webhook_secret = secrets.token_urlsafe(24)
        api_key = secrets.token_urlsafe(24)
        platform_secret = secrets.token_urlsafe(24) if hub.io_signature else None
        specs.append(
            HubSpec(
                partner_id=hub.partner_id,
                name=f"Example CRM ({hub.label})",
                billing=hub.billing,  # type: ignore[arg-type]
                redirect_url=f"{service_url}/connect/{hub.name}",
                webhook_url=f"{service_url}/hooks/360dialog/{hub.name}/{webhook_secret}",
                api_key=api_key,
                platform_secret=platform_secret,
                io_signature=hub.io_signature,
                step_delay_seconds=step_delay_seconds,
            )
        )
        configs.append(
            HubConfig(
                name=hub.name,
                partner_id=hub.partner_id,
                billing=hub.billing,  # type: ignore[arg-type]
                api_key=SecretStr(api_key),
                platform_secret=SecretStr(platform_secret) if platform_secret else None,
                io_signature=hub.io_signature,
                webhook_secret=SecretStr(webhook_secret),
                product=PRODUCT_NAME,
                hub_url=sandbox_url,
                partner_api_url=f"{sandbox_url}/api/v2",
                messaging_api_url=sandbox_url,
            )
        )
    product_token = secrets.token_urlsafe(32)
    product_secret = generate_secret()
    settings = Settings(
        database_url=None,
        data_dir=data_dir,
        public_url=service_url,
        encryption_keys=[SecretStr(generate_key())],
        hubs=configs,
        products=[
            ProductConfig(
                name=PRODUCT_NAME,
                webhook_url=f"{product_url}/events",
                webhook_secrets=[SecretStr(product_secret)],
                api_tokens=[SecretStr(product_token)],
                messaging_webhook_url=f"{product_url}/inbound",
            )
        ],
    )
    product = ProductSetup(
        title="Example CRM",
        service_url=service_url,
        api_token=product_token,
        webhook_secret=product_secret,
        hubs=tuple(ProductHub(hub.name, hub.label, hub.about) for hub in HUBS),
    )
    return Demo(ports, settings, specs, product)


async def demo_operator(database_url: str) -> str:
    """The demo's operator account with a fresh password; answers the password."""
    from onboard360.db.pooling import one_off_async_engine  # noqa: PLC0415
    from onboard360.services import source  # noqa: PLC0415
    from onboard360.services.accounts import set_operator_password  # noqa: PLC0415

    password = secrets.token_urlsafe(12)
    engine = one_off_async_engine(database_url)
    try:
        await set_operator_password(engine, OPERATOR_EMAIL, password, source=source.CLI)
    finally:
        await engine.dispose()
    return password


async def run_demo(demo: Demo, database_url: str) -> None:
    """Serve the three apps and run a worker until interrupted; print the product page's
    URL and the operator dashboard's, with its login, once up."""
    from onboard360.sandbox.app import create_app as create_sandbox  # noqa: PLC0415
    from onboard360.web.app import create_app as create_service  # noqa: PLC0415
    from onboard360.worker.runner import run_worker  # noqa: PLC0415 - heavy imports

    password = await demo_operator(database_url)
    ports = demo.ports
    sites = [
        Site(create_sandbox(demo.sandbox_hubs), ports.host, ports.sandbox),
        Site(create_service(demo.settings, database_url), ports.host, ports.service),
        Site(create_product_app(demo.product), ports.host, ports.product),
    ]

    def announce() -> None:
        print(f"onboard360 demo: open {demo.product_url}/  (Ctrl-C to stop)")
        print(
            f"operator dashboard: {demo.dashboard_url}  "
            f"(log in as {OPERATOR_EMAIL}, password {password})",
            flush=True,
        )

    worker = asyncio.create_task(
        run_worker(demo.settings, database_url, install_signal_handlers=False)
    )
    try:
        await serve_all(sites, on_started=announce)
    finally:
        # Cancelling the worker drains it: running jobs finish, nothing is lost.
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
