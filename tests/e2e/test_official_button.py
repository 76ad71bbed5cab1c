"""The official `360dialog-connect-button` npm package, unmodified, against the sandbox.

Its env="local" opens http://localhost:8082/dashboard/app/{partnerId}, so the sandbox must
listen on 8082: the xdist group keeps this the only test using that port at a time. The
button page is bundled with esbuild at test time (tests/e2e/button, `make npm`) into a
temporary directory, and served from the hub's Redirect URL origin, as the button requires.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from playwright.sync_api import Page, expect

from onboard360.sandbox import platform as p
from onboard360.sandbox.app import create_app
from onboard360.sandbox.models import HubSpec
from onboard360.serving import free_port, running

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


def button_page(bundle: Path, state: str, email: str) -> FastAPI:
    app = FastAPI()
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>button</title></head>
<body><div id="root" data-partner-id="{PARTNER_ID}" data-number="{NUMBER}"
 data-state="{state}" data-email="{email}"></div><pre id="callback"></pre>
<script src="/button.js"></script></body></html>"""

    @app.get("/")
    async def index() -> HTMLResponse:
        return HTMLResponse(html)

    @app.get("/button.js")
    async def script() -> FileResponse:
        return FileResponse(bundle, media_type="text/javascript")

    return app


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # Like uvicorn: connections of an earlier run in TIME_WAIT do not make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.browser
@pytest.mark.xdist_group("port8082")
def test_official_button_callback_receives_client_and_channels(
    page: Page, button_bundle: Path
) -> None:
    if not port_is_free(p.DEFAULT_PORT):
        pytest.fail(f"port {p.DEFAULT_PORT} is busy (is `onboard360 demo` running?)")
    page_port = free_port()
    page_url = f"http://localhost:{page_port}/"
    sandbox_app = create_app([HubSpec(partner_id=PARTNER_ID, redirect_url=page_url)])
    world = sandbox_app.state.sandbox
    with (
        running(sandbox_app, port=p.DEFAULT_PORT),
        running(button_page(button_bundle, "button-state", "button@example.com"), port=page_port),
    ):
        page.goto(page_url)
        with page.expect_popup() as opened:
            page.click("button:has-text('Connect 360dialog')")
        popup = opened.value
        popup.wait_for_load_state()
        # The button appends ?number=+49… unencoded: the + arrives as a space.
        assert popup.url.startswith(f"http://localhost:8082/dashboard/app/{PARTNER_ID}?number=")
        expect(popup.locator("#email")).to_have_value("button@example.com")
        popup.fill("#name", "Button GmbH")
        popup.click("#continue")
        expect(popup.locator(".phone-number")).to_have_value(NUMBER)
        popup.click("#continue")
        with popup.expect_event("close"):
            popup.click("#continue")

        # The opener reloads with the popup's query and calls the callback.
        expect(page.locator("#callback")).to_contain_text('"client"')
        answer = json.loads(page.inner_text("#callback"))
        client = world.find_client_by_email(PARTNER_ID, "button@example.com")
        assert client is not None
        (channel,) = [c for c in dict(world.channels).values() if c.client_id == client.id]
        assert answer == {"client": client.id, "channels": [channel.id]}
        assert "state=button-state" in page.url
