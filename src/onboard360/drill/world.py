"""What one drill run is made of: a fresh database, ports, secrets, two hubs, every process's
environment. Built once by ``plan``; nothing here starts a process."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from onboard360.drill.processes import child_env
from onboard360.handoff import generate_secret
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.serving import free_port

# A PostgreSQL of the operator's (no restarts then); by default the drill starts its own.
DEFAULT_ADMIN_URL = os.environ.get("ONBOARD360_DRILL_ADMIN_URL")
HOST = "127.0.0.1"
# A worker must look dead soon after a SIGKILL, so its jobs come back quickly.
HEARTBEAT_SECONDS = 1.0
STALLED_SECONDS = 5.0
# The product's deliveries time out fast, so "answers too late" fits in the drill.
PRODUCT_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class DrillHub:
    """One Partner Hub, as both the sandbox and the service are told about it."""

    name: str
    partner_id: str
    billing: str
    api_key: str = field(repr=False)
    platform_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)

    @property
    def direct(self) -> bool:
        return self.billing == "direct"


@dataclass(frozen=True)
class World:
    run_dir: Path
    admin_url: str
    database: str
    sandbox_port: int
    web_ports: tuple[int, int]
    proxy_port: int
    product_port: int
    hubs: tuple[DrillHub, ...]
    encryption_key: str = field(repr=False)
    product_token: str = field(repr=False)
    product_secret: str = field(repr=False)
    step_delay_seconds: float = 0.2

    @property
    def database_url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.database}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{HOST}:{self.sandbox_port}"

    @property
    def public_url(self) -> str:
        """The service as 360dialog, people and the product reach it: the round-robin proxy."""
        return f"http://{HOST}:{self.proxy_port}"

    @property
    def product_url(self) -> str:
        return f"http://{HOST}:{self.product_port}"

    def hub(self, name: str) -> DrillHub:
        return next(h for h in self.hubs if h.name == name)

    def hubs_file(self) -> Path:
        """The sandbox's ``--hubs`` file: webhooks and redirects go to the service's proxy."""
        specs = [
            {
                "partner_id": hub.partner_id,
                "name": f"Drill {hub.billing} payment",
                "billing": hub.billing,
                "redirect_url": f"{self.public_url}/connect/{hub.name}",
                "webhook_url": (
                    f"{self.public_url}/hooks/360dialog/{hub.name}/{hub.webhook_secret}"
                ),
                "api_key": hub.api_key,
                "platform_secret": hub.platform_secret,
                "io_signature": True,
                "step_delay_seconds": self.step_delay_seconds,
                "auto_advance": True,
            }
            for hub in self.hubs
        ]
        path = self.run_dir / "hubs.json"
        path.write_text(json.dumps({"hubs": specs}, indent=2), encoding="utf-8")
        return path

    def service_env(self) -> dict[str, str]:
        """ONBOARD360_* for `serve`, `worker`, `migrate` and `sync` (secrets in the env only)."""
        hubs = [
            {
                "name": hub.name,
                "partner_id": hub.partner_id,
                "billing": hub.billing,
                "api_key": hub.api_key,
                "platform_secret": hub.platform_secret,
                "io_signature": True,
                "webhook_secret": hub.webhook_secret,
                "hub_url": self.sandbox_url,
                "partner_api_url": f"{self.sandbox_url}/api/v2",
                "messaging_api_url": self.sandbox_url,
            }
            for hub in self.hubs
        ]
        products = [
            {
                "name": "default",
                "webhook_url": f"{self.product_url}/events",
                "webhook_secrets": [self.product_secret],
                "api_tokens": [self.product_token],
                "messaging_webhook_url": f"{self.product_url}/inbound",
                "webhook_timeout_seconds": PRODUCT_TIMEOUT_SECONDS,
            }
        ]
        return {
            "ONBOARD360_DATABASE_URL": self.database_url,
            "ONBOARD360_PUBLIC_URL": self.public_url,
            "ONBOARD360_ENCRYPTION_KEYS": json.dumps([self.encryption_key]),
            "ONBOARD360_HUBS": json.dumps(hubs),
            "ONBOARD360_PRODUCTS": json.dumps(products),
            # Off: the drill's final `onboard360 sync` is what must recover lost webhooks.
            "ONBOARD360_RECONCILE_CRON": "",
            # Off too: they fire at wall-clock boundaries, so a run could start after the
            # drain and write an event the verdict then counts as undelivered.
            "ONBOARD360_KEY_CHECK_EVERY_MINUTES": "0",
            "ONBOARD360_ABANDON_CRON": "",
            "ONBOARD360_PRUNE_CRON": "",
            "ONBOARD360_WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "ONBOARD360_STALLED_WORKER_SECONDS": str(STALLED_SECONDS),
            # A process restarted while the drill's PostgreSQL is down waits for it.
            "ONBOARD360_STARTUP_DATABASE_WAIT_SECONDS": "120",
            "ONBOARD360_LOG_FORMAT": "json",
            "ONBOARD360_LOG_LEVEL": "info",
        }

    def product_env(self) -> dict[str, str]:
        config = {
            "service_url": self.public_url,
            "sandbox_url": self.sandbox_url,
            "api_token": self.product_token,
            "webhook_secret": self.product_secret,
            "inbound_url": f"{self.product_url}/inbound",
        }
        return {"ONBOARD360_DRILL_PRODUCT": json.dumps(config)}


def plan(run_dir: Path, admin_url: str, step_delay: float = 0.2) -> World:
    """Ports, ids and fresh secrets for one run (free ports only: never 8080/8082/8090)."""
    tag = uuid.uuid4().hex[:10]

    def hub(name: str, billing: str, partner_id: str) -> DrillHub:
        return DrillHub(
            name=name,
            partner_id=partner_id,
            billing=billing,
            api_key=secrets.token_urlsafe(24),
            platform_secret=secrets.token_urlsafe(24),
            webhook_secret=secrets.token_urlsafe(24),
        )

    return World(
        run_dir=run_dir,
        admin_url=admin_url,
        database=f"o360_drill_{tag}",
        sandbox_port=free_port(HOST),
        web_ports=(free_port(HOST), free_port(HOST)),
        proxy_port=free_port(HOST),
        product_port=free_port(HOST),
        hubs=(hub("pp", "partner", "DrillPartnerPA"), hub("dp", "direct", "DrillDirectPA")),
        encryption_key=generate_key(),
        product_token="drill-" + secrets.token_urlsafe(24),
        product_secret=generate_secret(),
        step_delay_seconds=step_delay,
    )


def _admin(world: World, statement: sql.Composable) -> None:
    with psycopg.connect(world.admin_url, autocommit=True) as conn:
        conn.execute(statement)


def create_database(world: World) -> None:
    """CREATE DATABASE, then `onboard360 migrate` into it, as an operator would."""
    _admin(world, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(world.database)))
    migrate = run_cli(world, "migrate")
    if migrate.returncode != 0:
        raise RuntimeError(f"onboard360 migrate failed: {migrate.stderr.strip()[-500:]}")


def drop_database(world: World) -> None:
    _admin(
        world,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(world.database)),
    )


def cli_argv(*args: str) -> list[str]:
    """`onboard360 …` with this interpreter, so the drill runs the code it was started from."""
    return [sys.executable, "-m", "onboard360", *args]


def run_cli(world: World, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_argv(*args),
        env=child_env(world.service_env()),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def as_json(world: World) -> dict[str, Any]:
    """Where things ran, for the summary (no secrets)."""
    return {
        "database": world.database,
        "sandbox": world.sandbox_url,
        "service": world.public_url,
        "web_ports": list(world.web_ports),
        "product": world.product_url,
        "run_dir": str(world.run_dir),
    }
