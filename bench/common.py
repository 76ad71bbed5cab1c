"""What every benchmark shares: throwaway databases, subprocess servers, summaries.

Databases are created on the local PostgreSQL (``ONBOARD360_BENCH_ADMIN_URL``, by default
the test server at 127.0.0.1:5432) from one migrated template, and dropped on the way out,
even when a benchmark fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI, Request
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine, event, text

from onboard360.config.hubs import HubConfig
from onboard360.db.embedded import to_sqlalchemy_url
from onboard360.db.migrate import upgrade

ADMIN_URL = os.environ.get(
    "ONBOARD360_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent


def _url_for(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


class Databases:
    """A migrated template and fresh copies of it; ``close`` drops every one of them."""

    def __init__(self) -> None:
        self.prefix = f"o360_bench_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_tpl"
        self._made: list[str] = []
        self._create(self.template, None)
        upgrade(to_sqlalchemy_url(_url_for(self.template)))

    def _create(self, name: str, template: str | None) -> None:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._made.append(name)
        _admin(statement)

    def fresh(self) -> tuple[str, str]:
        """A new migrated database: (its name, its SQLAlchemy URL)."""
        name = f"{self.prefix}_{len(self._made)}"
        self._create(name, self.template)
        return name, to_sqlalchemy_url(_url_for(name))

    def drop(self, name: str) -> None:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self._made:
            self._made.remove(name)

    def close(self) -> None:
        for name in reversed(list(self._made)):
            self.drop(name)


@contextlib.contextmanager
def databases() -> Iterator[Databases]:
    dbs = Databases()
    try:
        yield dbs
    finally:
        dbs.close()


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def free_port() -> int:
    from onboard360.runtime.serving import free_port as _free  # noqa: PLC0415

    return _free(HOST)


@contextlib.contextmanager
def server_process(
    argv: Sequence[str], port: int, log: Path, health: str = "/healthz"
) -> Iterator[int]:
    """Run ``python -m bench.serve …`` until it answers ``health``; yields its pid.

    Its output goes to ``log`` (uvicorn reports the requests wrk cuts off at the end).
    """
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", *argv], cwd=ROOT, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"bench server exited with {proc.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{HOST}:{port}{health}", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("bench server did not start within 20 s")
            time.sleep(0.05)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every postgres process on this machine (the benchmark's share dominates)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
    return total


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def token() -> str:
    return secrets.token_urlsafe(24)


def psycopg_sql(statement: str) -> str:
    """A statement with SQLAlchemy's ``:name`` placeholders in psycopg's ``%(name)s``."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement.replace("%", "%%"))


def timed_inserts(
    conn: psycopg.Connection[Any], statements: Sequence[str], params: dict[str, Any]
) -> dict[str, float]:
    """Run each ``INSERT INTO table …`` (``:name`` placeholders); seconds per table."""
    steps: dict[str, float] = {}
    for statement in statements:
        table = statement.split("INSERT INTO", 1)[1].split()[0]
        started = time.perf_counter()
        conn.execute(psycopg_sql(statement), params)  # type: ignore[arg-type]
        steps[table] = time.perf_counter() - started
    return steps


def offline_hub(name: str, partner_id: str, billing: str = "partner") -> HubConfig:
    """A hub whose 360dialog is nowhere: for benches that never call it."""
    return HubConfig(
        name=name,
        partner_id=partner_id,
        billing=billing,  # type: ignore[arg-type]
        api_key=SecretStr(token()),
        webhook_secret=SecretStr(token()),
        hub_url="http://127.0.0.1:9",
        partner_api_url="http://127.0.0.1:9/api/v2",
        messaging_api_url="http://127.0.0.1:9",
    )


def with_select1(app: FastAPI) -> FastAPI:
    """The app with ``GET /bench/select1``, the baseline: ``SELECT 1`` through the app's
    own pool, an HTTP request and one database round trip, nothing else."""

    @app.get("/bench/select1", include_in_schema=False)
    async def select1(request: Request) -> dict[str, int]:
        async with request.app.state.service.engine.connect() as conn:
            return {"one": int(await conn.scalar(text("SELECT 1")) or 0)}

    return app


@contextlib.contextmanager
def statement_clock() -> Iterator[list[tuple[float, str]]]:
    """(time, first words) of every statement any SQLAlchemy engine sends meanwhile."""
    seen: list[tuple[float, str]] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append((time.perf_counter(), " ".join(statement.split())[:60]))

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def time_migration(url: str, *, down_to: str, up_to: str, batch: str) -> dict[str, float]:
    """Migration ``up_to`` again over the seeded rows (the database goes back to
    ``down_to`` first): seconds from its first batch (statements starting with ``batch``)
    to its first concurrent index build, and of the index builds."""
    from alembic import command  # noqa: PLC0415

    from onboard360.db.migrate import alembic_config  # noqa: PLC0415

    command.downgrade(alembic_config(url), down_to)
    started = time.perf_counter()
    with statement_clock() as seen:
        upgrade(url, up_to)
    done = time.perf_counter()
    batches = [at for at, words in seen if words.startswith(batch)]
    indexes = [at for at, words in seen if words.startswith("CREATE INDEX CONCURRENTLY")]
    first_index = indexes[0] if indexes else done
    return {
        "total_s": done - started,
        "backfill_s": first_index - (batches[0] if batches else started),
        "batches": len(batches),
        "indexes_s": done - first_index,
    }


def timed_gets(
    http: httpx.Client,
    path: str,
    *,
    warmups: int,
    repeat: int,
    before: Callable[[int], None] | None = None,
) -> tuple[list[float], httpx.Response]:
    """``warmups`` then ``repeat`` GETs of ``path`` one after the other: the timed ones'
    milliseconds and the last answer; ``before(i)``, untimed, before the i-th. Anything
    but a 200 ends the bench."""
    times: list[float] = []
    for attempt in range(warmups + repeat):
        if before is not None:
            before(attempt)
        started = time.perf_counter()
        answer = http.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
        if attempt >= warmups:
            times.append(elapsed)
    return times, answer
