"""The README's sandbox examples, run as written: its hubs.toml, its shell walk-through and
its Python test, against the code they describe."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.routing import Route

from onboard360.runtime.serving import free_port
from onboard360.sandbox.cli import load_hubs
from onboard360.web import connect, partner_webhooks
from tests.sandbox_fixtures import wait_until

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
README_PORT = "18082"


def block(language: str, containing: str) -> str:
    """The README's one ``language`` code block that contains ``containing``."""
    (found,) = [
        b for b in re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL) if containing in b
    ]
    return found


def served_by(router_routes: list[object], url: str) -> bool:
    path = urlsplit(url).path
    return any(isinstance(r, Route) and r.path_regex.fullmatch(path) for r in router_routes)


@pytest.fixture
def readme_dir(tmp_path: Path) -> Path:
    """A directory holding the README's hubs.toml."""
    (tmp_path / "hubs.toml").write_text(block("toml", "[[hubs]]"))
    return tmp_path


@pytest.fixture
def readme_sandbox(readme_dir: Path) -> Iterator[tuple[Path, str]]:
    """`onboard360 sandbox --hubs hubs.toml` run there, on a free port; yields the
    directory and the port."""
    tmp_path = readme_dir
    port = str(free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARD360_")}
    with (tmp_path / "sandbox.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "onboard360", "sandbox", "--hubs", "hubs.toml", "--port", port],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def up() -> bool:
            assert process.poll() is None, (tmp_path / "sandbox.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/sandbox/hubs").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout=30, what="the README's sandbox")
        yield tmp_path, port
    finally:
        process.terminate()
        process.wait(timeout=30)


def compact(output: str) -> str:
    return re.sub(r"\s", "", output)


def run_shell(script: str, cwd: Path, port: str) -> subprocess.CompletedProcess[str]:
    """A README shell block, on our port, with this install's `onboard360` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARD360_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace(README_PORT, port)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_readme_hubs_point_at_the_service_connect_page_and_webhook_receiver(
    readme_dir: Path,
) -> None:
    hubs = load_hubs(readme_dir / "hubs.toml")
    assert [h.partner_id for h in hubs] == ["AcmePartnerPA", "AcmeDirectPA"]
    create_hub = block("sh", "create-hub")
    urls = [u for h in hubs for u in (h.redirect_url, h.webhook_url)]
    urls += re.findall(r"--(?:redirect|webhook)-url (\S+)", create_hub)
    assert len(urls) == 6
    for url in urls[0::2]:
        assert served_by(connect.router.routes, url), url
    for url in urls[1::2]:
        assert served_by(partner_webhooks.router.routes, url), url


def test_readme_walkthrough_and_io_signature_run_against_its_sandbox(
    readme_sandbox: tuple[Path, str],
) -> None:
    where, port = readme_sandbox
    signed = run_shell(block("sh", "io_signature=$SIG"), where, port)
    assert signed.returncode == 0, signed.stderr
    assert signed.stdout.strip() == "200"
    walked = run_shell(block("sh", "ONBOARD360_SANDBOX_URL="), where, port)
    assert walked.returncode == 0, walked.stdout[-3000:] + walked.stderr[-3000:]
    # Step 7: the one key step 4 generated.
    assert re.search(r'"key_counts":\{"[^"]+":1\},"total":1\}', compact(walked.stdout))


def test_readme_ci_script_runs_as_written(readme_dir: Path) -> None:
    done = run_shell(block("sh", "SANDBOX_PID=$!"), readme_dir, str(free_port()))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # 100 running clients seeded, no key generated yet.
    assert '"key_counts":{},"total":0' in compact(done.stdout)


def test_readme_python_example_passes() -> None:
    namespace: dict[str, object] = {}
    exec(block("python", "def test_"), namespace)  # noqa: S102 - the README's own code
    (test,) = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    test()
