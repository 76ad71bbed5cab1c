"""`onboard360 demo` as a person runs it: one process, the product page's URL and the
operator dashboard's login, Ctrl-C ends it cleanly.

On free ports (never the defaults 8080/8082/8090, which a running demo or the button test
may hold) and with its embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from onboard360.runtime.serving import free_port
from tests.integration.dashboard_http import forms

CLI = Path(sys.executable).with_name("onboard360")


def printed_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        return ""
    return process.stdout.readline()


@pytest.fixture
def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    ports = [free_port() for _ in range(3)]
    data_dir = tmp_path_factory.mktemp("demo")
    stderr = data_dir / "stderr.log"
    argv = [str(CLI), "demo", "--step-delay", "0", "--data-dir", str(data_dir)]
    argv += ["--port", str(ports[0]), "--service-port", str(ports[1])]
    argv += ["--sandbox-port", str(ports[2])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARD360_")}
    with stderr.open("w") as errors:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        try:
            # Both lines are printed at once: the second may sit in the pipe's read buffer
            # already, where select() does not see it.
            lines = [printed_line(process, timeout=60)]
            lines.append(process.stdout.readline() if lines[0] and process.stdout else "")
            assert all(lines), f"the demo printed {lines}; stderr:\n{stderr.read_text()}"
            yield process, lines
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def test_demo_prints_the_product_page_and_the_dashboard_login_and_stops_on_ctrl_c(
    demo: tuple[subprocess.Popen[str], list[str]],
) -> None:
    process, (product_line, operator_line) = demo
    match = re.fullmatch(
        r"onboard360 demo: open (http://127\.0\.0\.1:\d+)/  \(Ctrl-C to stop\)\s*",
        product_line,
    )
    assert match, product_line
    product_url = match[1]

    page = httpx.get(f"{product_url}/")
    assert page.status_code == 200
    assert "Onboard a new client" in page.text
    # The product asks the service for an onboarding and hands the browser to its page.
    handed = httpx.post(f"{product_url}/onboard/partner", data={"customer": "smoke"})
    assert handed.status_code == 303
    connect_url = handed.headers["location"]
    service_url = connect_url.split("/connect/")[0]
    assert httpx.get(f"{service_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(connect_url).status_code == 200
    # The product takes only events signed by the service.
    unsigned = httpx.post(f"{product_url}/events", json={"type": "channel.activated", "data": {}})
    assert unsigned.status_code == 400

    signed_in = dashboard_login(operator_line, service_url)
    assert "DemoPartnerPA" in signed_in.text  # the demo's own hubs
    assert "DemoDirectPA" in signed_in.text

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert process.stdout is not None
    assert process.stdout.read() == ""  # the two lines, nothing else on stdout


def dashboard_login(operator_line: str, service_url: str) -> httpx.Response:
    """Log in with the credentials the demo printed; answers the overview page."""
    match = re.fullmatch(
        r"operator dashboard: (\S+)/dashboard  \(log in as (\S+), password (\S+)\)\s*",
        operator_line,
    )
    assert match, operator_line
    dashboard_at, email, password = match.groups()
    assert dashboard_at == service_url
    with httpx.Client(base_url=service_url, timeout=15) as browser:
        fields = forms(browser.get("/dashboard/login"))["/dashboard/login"]
        answer = browser.post(
            "/dashboard/login", data={**fields, "email": email, "password": password}
        )
        assert answer.status_code == 303, answer.text
        assert "failed" not in answer.headers["location"]
        overview = browser.get("/dashboard")
        assert overview.status_code == 200, overview.text
        return overview
