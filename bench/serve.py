"""One benchmark server process: the real service app, or a bare endpoint doing no I/O.

``python -m bench.serve bare --port P``
``python -m bench.serve ingest --port P --database-url URL --webhook-secret S
  --platform-secret S [--max-batch N] [--max-in-flight K]``

Both run on uvicorn with uvloop and httptools, one process, access log off — the same
server settings, so the only difference is what the handler does.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.config.settings import Settings
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.serving import freeze_startup_objects
from onboard360.web.app import create_app
from onboard360.web.ingest import LIMITS_STATE, BatchLimits

HUB = "bench"
PARTNER_ID = "BenchPA"
ANSWER = b'{"received": true, "duplicate": false}'


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/hooks/360dialog/{hub_name}/{secret}")
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(content=ANSWER, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def ingest_app(args: argparse.Namespace) -> FastAPI:
    hub = HubConfig(
        name=HUB,
        partner_id=PARTNER_ID,
        api_key=SecretStr("bench-api-key-" + "k" * 24),
        webhook_secret=SecretStr(args.webhook_secret),
        platform_secret=SecretStr(args.platform_secret),
    )
    settings = Settings(
        public_url=f"http://127.0.0.1:{args.port}",
        encryption_keys=[SecretStr(generate_key())],
        hubs=[hub],
        products=[ProductConfig(name="default")],
        log_level="warning",
    )
    app = create_app(settings, args.database_url)
    setattr(
        app.state,
        LIMITS_STATE,
        BatchLimits(max_batch=args.max_batch, max_in_flight=args.max_in_flight),
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("kind", choices=["bare", "ingest"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--platform-secret")
    parser.add_argument("--max-batch", type=int, default=BatchLimits.max_batch)
    parser.add_argument("--max-in-flight", type=int, default=BatchLimits.max_in_flight)
    args = parser.parse_args()
    app = bare_app() if args.kind == "bare" else ingest_app(args)
    freeze_startup_objects()  # as `onboard360 serve` does, for both
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
