"""The official `360dialog-connect-button` npm package, unmodified, against the sandbox.

Its env="local" opens http://localhost:8082/dashboard/app/{partnerId}, so the sandbox must
listen on 8082: the xdist group keeps this the only test using that port at a time. The
button page is bundled with esbuild at test time (tests/e2e/button, `make npm`) into a
temporary directory, and served from the hub's Redirect URL origin, as the button requires.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from playwright.sync_api import Page, expect

from onboard360.hub import platform as p
from onboard360.runtime.serving import free_port, port_is_free, running
from onboard360.sandbox.app import create_app
from onboard360.sandbox.models import HubSpec
from tests.e2e.service_stack import worker_running
from tests.sandbox_fixtures import wait_until
from tests.stack import PRODUCT_TOKEN, running_stack

PORT_LOCK = Path("/tmp/onboard360-tests-port-8082.lock")

BUTTON_DIR = Path(__file__).parent / "button"
PARTNER_ID = "ButtonTestPA"
NUMBER = "+4915300000001"


@pytest.fixture(scope="session")
def button_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    esbuild = BUTTON_DIR / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is missing: install Node.js, then `make npm`")
        subprocess.run(
            ["npm", "ci", "--silent", "--no-audit", "--no-fund"],
            cwd=BUTTON_DIR,
            check=True,
            timeout=300,
        )
    bundle = tmp_path_factory.mktemp("button") / "button.js"
    subprocess.run(
        [
            str(esbuild),
            "entry.jsx",
            "--bundle",
            "--minify",
            f"--outfile={bundle}",
            '--define:process.env.NODE_ENV="production"',
            "--log-level=warning",
        ],
        cwd=BUTTON_DIR,
        check=True,
        timeout=120,
    )
    return bundle


def button_page(
    bundle: Path,
    state: str,
    email: str,
    *,
    partner_id: str = PARTNER_ID,
    service_url: str = "",
    onboarding_id: str = "",
) -> FastAPI:
    """The partner's page with the button. With ``service_url`` it also plays the partner's
    backend for the onboarding its user is in: the page gets the button's signed
    ``queryParameters`` from ``/popup-parameters``, and posts a redirect the button's
    callback saw to ``/redirects``; both go on to onboard360 with the product's token."""
    app = FastAPI()
    backend = (
        ' data-forward="/redirects" data-parameters="/popup-parameters"' if service_url else ""
    )
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>button</title></head>
<body><div id="root" data-partner-id="{partner_id}" data-number="{NUMBER}"
 data-state="{state}" data-email="{email}"{backend}></div><pre id="callback"></pre>
<pre id="parameters"></pre><pre id="forwarded"></pre><script src="/button.js"></script>
</body></html>"""
    headers = {"Authorization": f"Bearer {PRODUCT_TOKEN}"}

    @app.get("/")
    async def index() -> HTMLResponse:
        return HTMLResponse(html)

    @app.get("/button.js")
    async def script() -> FileResponse:
        return FileResponse(bundle, media_type="text/javascript")

    @app.post("/popup-parameters")
    async def popup_parameters() -> JSONResponse:
        async with httpx.AsyncClient(base_url=service_url, headers=headers) as client:
            answer = await client.post(f"/api/v1/onboardings/{onboarding_id}/popup-parameters")
        return JSONResponse(answer.json(), status_code=answer.status_code)

    @app.post("/redirects")
    async def forward_redirect(request: Request) -> JSONResponse:
        body = {"query": str((await request.json())["query"]), "onboarding_id": onboarding_id}
        async with httpx.AsyncClient(base_url=service_url, headers=headers) as client:
            answer = await client.post("/api/v1/redirects", json=body)
        return JSONResponse(answer.json(), status_code=answer.status_code)

    return app


def click_through_popup(page: Page, partner_id: str, expected_email: str) -> str:
    """Connect, sign up with the prefilled email and the requested number, share, done.
    Answers the URL the button opened the popup with."""
    with page.expect_popup() as opened:
        page.click("button:has-text('Connect 360dialog')")
    popup = opened.value
    popup.wait_for_load_state()
    url = popup.url
    # The button appends ?number=+49… unencoded: the + arrives as a space.
    assert url.startswith(f"http://localhost:8082/dashboard/app/{partner_id}?number=")
    expect(popup.locator("#email")).to_have_value(expected_email)
    popup.fill("#name", "Button GmbH")
    popup.click("#continue")
    expect(popup.locator(".phone-number")).to_have_value(NUMBER)
    popup.click("#continue")
    with popup.expect_event("close"):
        popup.click("#continue")
    return url


@pytest.fixture
def default_sandbox_port() -> Iterator[int]:
    """The sandbox's default port (env="local" hard-codes it), for one test at a time.

    The xdist group keeps these tests on one worker; the lock holds even where a
    scheduler does not (two workers, or two test runs on one machine).
    """
    with open(PORT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not port_is_free("127.0.0.1", p.DEFAULT_PORT):
                pytest.fail(f"port {p.DEFAULT_PORT} is busy (is `onboard360 demo` running?)")
            yield p.DEFAULT_PORT
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.mark.browser
@pytest.mark.xdist_group("port8082")
def test_official_button_callback_receives_client_and_channels(
    page: Page, button_bundle: Path, default_sandbox_port: int
) -> None:
    page_port = free_port()
    page_url = f"http://localhost:{page_port}/"
    sandbox_app = create_app([HubSpec(partner_id=PARTNER_ID, redirect_url=page_url)])
    world = sandbox_app.state.sandbox
    with (
        running(sandbox_app, port=default_sandbox_port),
        running(button_page(button_bundle, "button-state", "button@example.com"), port=page_port),
    ):
        page.goto(page_url)
        click_through_popup(page, PARTNER_ID, "button@example.com")

        # The opener reloads with the popup's query and calls the callback.
        expect(page.locator("#callback")).to_contain_text('"client"')
        answer = json.loads(page.inner_text("#callback"))
        client = world.find_client_by_email(PARTNER_ID, "button@example.com")
        assert client is not None
        (channel,) = [c for c in dict(world.channels).values() if c.client_id == client.id]
        assert answer == {"client": client.id, "channels": [channel.id]}
        assert "state=button-state" in page.url


@pytest.mark.browser
@pytest.mark.xdist_group("port8082")
def test_official_button_redirect_forwarded_to_the_service_goes_live(
    database_url: str, page: Page, button_bundle: Path, default_sandbox_port: int
) -> None:
    page_port = free_port()
    page_url = f"http://localhost:{page_port}/"
    # The hub wants an IO Signature on every popup opening: the page gets it from onboard360.
    options = {"auto_advance": True, "io_signature": True, "redirect_urls": {"pp": page_url}}
    with (
        running_stack(
            database_url, hub_options=options, sandbox_port=default_sandbox_port
        ) as stack,
        worker_running(stack),
    ):
        created = stack.start_onboarding("pp", "button-user", email="svc@example.com")
        partner_id = stack.hub("pp").partner_id
        app = button_page(
            button_bundle,
            "",
            "",
            partner_id=partner_id,
            service_url=stack.service_url,
            onboarding_id=created["id"],
        )
        with running(app, port=page_port):
            page.goto(page_url)
            expect(page.locator("#parameters")).to_contain_text("io_signature")
            opened = httpx.URL(click_through_popup(page, partner_id, "svc@example.com"))
            assert opened.params["io_signature"]
            assert opened.params["io_timestamp"].isdigit()
            # The onboarding's state, a capability, never reaches the page or the popup.
            assert created["state"] not in str(opened)

            # The opener reloads with the popup's query and forwards it with the onboarding.
            expect(page.locator("#forwarded")).to_contain_text(f'"id":"{created["id"]}"')
            assert created["state"] not in page.url
        (channel,) = stack.sandbox.channels_of_hub(partner_id)
        assert json.loads(page.inner_text("#callback"))["channels"] == [channel.id]

        def live() -> bool:
            view = stack.api.get(f"/api/v1/onboardings/{created['id']}").json()
            return bool(view["stage"] == "live")

        wait_until(live, timeout=15, what="the channel to go live")
        assert stack.sandbox.channel(channel.id).keys_generated == 1
        key = stack.api.get(f"/api/v1/channels/{channel.id}/api-key")
        assert key.status_code == 200
