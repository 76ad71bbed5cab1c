"""The installed wheel, not the source tree: built once, installed without extras into a fresh
virtualenv, its `migrate`, `sandbox`, `serve` and `worker` run as processes against a new
database, and one onboarding driven over HTTP, as a browser would, to a stored key."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from onboard360.db.embedded import to_libpq_uri
from onboard360.db.migrate import current_revision, head_revision
from onboard360.handoff import generate_secret
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.serving import free_port, running
from tests.e2e.installed import (
    REPO,
    SHIPPED,
    Install,
    Processes,
    installed_once,
    processes_of,
    shipped_package_files,
    wait_for,
    wheel_files,
)
from tests.integration.dashboard_http import forms
from tests.integration.popup_http import Popup, onboard
from tests.sandbox_fixtures import WebhookSink, wait_until

# Meant for one xdist worker (the deployment starts once); the wheel is built and installed
# once per session in any case (installed_once).
pytestmark = [pytest.mark.xdist_group("installed-package"), pytest.mark.timeout(600)]

PARTNER_ID = "InstalledPA"
HUB = "main"
TOKEN = "installed-product-token-" + "t" * 24
DEV_ONLY = ("playwright", "hypothesis", "pytest", "schemathesis", "standardwebhooks")


@dataclass(frozen=True)
class Packaged:
    wheel: Path
    install: Install


@dataclass(frozen=True)
class Deployment:
    install: Install
    processes: Processes
    settings: dict[str, str]  # ONBOARD360_CONFIG: what every command is given
    database_url: str
    service_url: str
    sandbox_url: str
    product: WebhookSink


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    return Packaged(*installed_once(tmp_path_factory))


def toml(value: object) -> str:
    """A TOML value (JSON's strings, numbers and booleans are TOML's too)."""
    return json.dumps(value)


def write_configs(
    workdir: Path, database_url: str, service_url: str, sandbox_url: str, product_url: str
) -> Path:
    """The sandbox's hubs.toml and the service's onboard360.toml, as a partner writes them;
    answers the service's."""
    webhook_secret, api_key, platform_secret = (secrets.token_urlsafe(24) for _ in range(3))
    (workdir / "hubs.toml").write_text(
        f"""[[hubs]]
partner_id = {toml(PARTNER_ID)}
billing = "partner"
redirect_url = {toml(f"{service_url}/connect/{HUB}")}
webhook_url = {toml(f"{service_url}/hooks/360dialog/{HUB}/{webhook_secret}")}
api_key = {toml(api_key)}
platform_secret = {toml(platform_secret)}
io_signature = true
step_delay_seconds = 0
"""
    )
    config = workdir / "onboard360.toml"
    config.write_text(
        f"""database_url = {toml(to_libpq_uri(database_url))}
public_url = {toml(service_url)}
encryption_keys = [{toml(generate_key())}]

[[products]]
name = "default"
webhook_url = {toml(f"{product_url}/events")}
webhook_secrets = [{toml(generate_secret())}]
api_tokens = [{toml(TOKEN)}]

[[hubs]]
name = {toml(HUB)}
partner_id = {toml(PARTNER_ID)}
billing = "partner"
api_key = {toml(api_key)}
platform_secret = {toml(platform_secret)}
io_signature = true
webhook_secret = {toml(webhook_secret)}
hub_url = {toml(sandbox_url)}
partner_api_url = {toml(f"{sandbox_url}/api/v2")}
messaging_api_url = {toml(sandbox_url)}
"""
    )
    return config


@pytest.fixture(scope="module")
def deployment(
    packaged: Packaged, empty_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """migrate, then the sandbox, serve and worker of the install, on free ports."""
    workdir = tmp_path_factory.mktemp("deployment")
    service_port, sandbox_port = free_port(), free_port()
    service_url = f"http://127.0.0.1:{service_port}"
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sink = WebhookSink()
    with running(sink.app()) as product_url, processes_of(packaged.install, workdir) as procs:
        config = write_configs(workdir, empty_database_url, service_url, sandbox_url, product_url)
        settings = {"ONBOARD360_CONFIG": str(config), "ONBOARD360_LOG_FORMAT": "json"}
        migrated = packaged.install.run("migrate", settings=settings)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        hubs = str(workdir / "hubs.toml")
        procs.start(
            "sandbox", "sandbox", "--hubs", hubs, "--port", str(sandbox_port), settings=settings
        )
        procs.start("serve", "serve", "--port", str(service_port), settings=settings)
        procs.start("worker", "worker", "--concurrency", "2", settings=settings)
        wait_for(f"{sandbox_url}/sandbox/hubs", procs, "the sandbox")
        wait_for(f"{service_url}/healthz", procs, "the service")
        yield Deployment(
            packaged.install, procs, settings, empty_database_url, service_url, sandbox_url, sink
        )


def test_the_wheel_carries_every_file_the_package_reads(packaged: Packaged) -> None:
    missing = shipped_package_files() - wheel_files(packaged.wheel)
    assert not missing, f"not in the wheel: {sorted(missing)}"


def test_the_install_has_no_extras_and_imports_every_module_from_the_venv(
    packaged: Packaged,
) -> None:
    venv = packaged.install.venv.resolve()
    probe = packaged.install.python(
        "import importlib, importlib.util, pkgutil, onboard360\n"
        "print(onboard360.__file__)\n"
        f"print([m for m in {DEV_ONLY!r} if importlib.util.find_spec(m)])\n"
        "for m in pkgutil.walk_packages(onboard360.__path__, 'onboard360.'):\n"
        "    if '.migrations.' not in m.name and not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
    )
    assert probe.returncode == 0, probe.stderr
    where, dev_only = probe.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(venv)
    assert dev_only == "[]", f"dev-only packages in a plain install: {dev_only}"
    checked = subprocess.run(
        [packaged.install.bin("pip"), "check"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shown = packaged.install.run("--help")
    assert shown.returncode == 0, shown.stderr
    assert "migrate" in shown.stdout


def test_installed_commands_onboard_a_client_to_a_stored_key(deployment: Deployment) -> None:
    assert current_revision(deployment.database_url) == head_revision()
    with httpx.Client(
        base_url=deployment.service_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15
    ) as api:
        onboard_to_a_stored_key(deployment, api)


def onboard_to_a_stored_key(deployment: Deployment, api: httpx.Client) -> None:
    created = api.post("/api/v1/onboardings", json={"hub": HUB, "external_user_id": "u-1"})
    assert created.status_code == 201, created.text
    attempt = created.json()

    # The person's browser: one cookie jar, redirects followed, across the three sites.
    with httpx.Client(base_url=deployment.sandbox_url, follow_redirects=True, timeout=15) as web:
        page = web.get(attempt["connect_url"])
        assert page.status_code == 200, page.text
        assert "connect.js" in page.text
        assert web.get(f"{deployment.service_url}/connect-assets/connect.js").status_code == 200
        popup = Popup(web, PARTNER_ID)
        opened = popup.open(url=attempt["popup_url"])  # signed by the service, then 360dialog
        assert opened.url.port == httpx.URL(deployment.sandbox_url).port
        back = onboard(
            popup, email="owner@installed.example", numbers=["+4915112340000"], opened=opened
        )
        assert back.status_code == 200, back.text
        assert str(back.url).startswith(deployment.service_url)  # back at the service

    def channel() -> str | None:
        seen = api.get(f"/api/v1/onboardings/{attempt['id']}").json()["channels"]
        return seen[0]["channel_id"] if seen else None

    channel_id = wait_until(channel, timeout=60, what="the redirect's channel")

    def stored_key() -> dict[str, object] | None:
        answer = api.get(f"/api/v1/channels/{channel_id}/api-key")
        return answer.json() if answer.status_code == 200 else None

    key = wait_until(stored_key, timeout=90, what="the channel's key to be stored")
    assert key["key_version"] == 1
    # The stored key is the live one at 360dialog, and exactly one was generated.
    live = httpx.get(
        f"{deployment.sandbox_url}/v1/configs/webhook",
        headers={"D360-API-KEY": str(key["api_key"])},
    )
    assert live.status_code == 200, live.text
    counts = httpx.get(f"{deployment.sandbox_url}/sandbox/hubs/{PARTNER_ID}/key-counts").json()
    assert counts["key_counts"] == {channel_id: 1}
    wait_until(
        lambda: "channel.activated" in [r.json()["type"] for r in deployment.product.requests()],
        timeout=60,
        what="channel.activated at the product",
    )
    assert str(key["api_key"]) not in deployment.processes.output()


def test_installed_dashboard_renders_for_an_operator_made_by_the_installed_cli(
    deployment: Deployment,
) -> None:
    password = secrets.token_urlsafe(16)
    made = deployment.install.run(
        "users",
        "create",
        "ops@installed.example",
        "--password-stdin",
        settings=deployment.settings,
        stdin=password + "\n",
    )
    assert made.returncode == 0, made.stderr
    with httpx.Client(base_url=deployment.service_url, timeout=15) as web:
        login = web.get("/dashboard/login")
        assert login.status_code == 200
        fields = forms(login)["/dashboard/login"]
        signed_in = web.post(
            "/dashboard/login",
            data={**fields, "email": "ops@installed.example", "password": password},
        )
        assert signed_in.status_code == 303, signed_in.text
        assert "failed" not in signed_in.headers["location"]
        overview = web.get("/dashboard")
        assert overview.status_code == 200, overview.text
        assert HUB in overview.text
        css = web.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200
        assert css.text.strip()


def test_the_container_recipe_builds_and_installs_as_this_module_does() -> None:
    recipe = (REPO / "deploy" / "Dockerfile").read_text()
    _, build, image = re.split(r"^FROM ", recipe, flags=re.MULTILINE)  # two stages
    copied = {
        source
        for line in build.splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    assert copied == set(SHIPPED)
    assert "RUN pip wheel --no-deps --wheel-dir /dist ." in build
    assert "RUN pip install /dist/onboard360-*.whl" in image  # the wheel alone: no extras
    assert "COPY src" not in image


def test_installed_sandbox_plays_a_shipped_scenario_and_a_sync_step(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A partner's CI: the installed CLI plays the shipped happy path by its name against
    the installed sandbox, service and worker; then a file of its own whose `sync` step runs
    the installed `onboard360 sync` with the service's settings from the environment."""
    target = [
        "--url",
        deployment.sandbox_url,
        "--service-url",
        deployment.service_url,
        "--token",
        TOKEN,
    ]
    listed = deployment.install.run("sandbox", "scenarios")
    assert "partner-payment-happy-path" in listed.stdout, listed.stderr
    happy = deployment.install.run(
        "sandbox", "run", "partner-payment-happy-path", *target, "--var", f"hub={HUB}"
    )
    assert happy.returncode == 0, happy.stdout + happy.stderr
    assert "passed: 6 steps" in happy.stdout
    story = tmp_path / "story.toml"
    story.write_text(
        f"""
[[steps]]
do = "popup"
as = "signup"
hub = "{HUB}"
user = "ci-${{run.id}}"
numbers = ["+49157${{run.digits}}1"]

[[steps]]
do = "expect_event"
event = "channel.activated"
channel = "$signup.channel"
within = "60s"

[[steps]]
do = "sync"
hub = "{HUB}"

[[steps]]
do = "expect_sandbox"
channel = "$signup.channel"
has = {{ keys_generated = 1 }}
"""
    )
    synced = deployment.install.run(
        "sandbox", "run", str(story), *target, settings=deployment.settings
    )
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert f"{HUB}: " in synced.stdout  # the sync's own report line
