"""Debian's PgBouncer in transaction mode in front of the test PostgreSQL, for a session.

Its own config and auth file in a temporary directory, a free port, trust auth (as the
PostgreSQL behind it), any database name passed through: a test's cloned database is
reached as ``postgresql://<user>@127.0.0.1:<port>/<name>``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from onboard360.runtime.serving import free_port

BINARIES = ("pgbouncer", "/usr/sbin/pgbouncer")
SERVER_CONNECTIONS = 4


def binary() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "pgbouncer is not installed: `make test` installs it (apt-get install pgbouncer)"
    )


def _config(directory: Path, port: int, admin_url: str) -> Path:
    upstream = conninfo_to_dict(admin_url)
    user = upstream.get("user", "postgres")
    (directory / "users.txt").write_text(f'"{user}" ""\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={upstream.get('host', '127.0.0.1')} port={upstream.get('port', 5432)}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {directory / 'users.txt'}",
                "pool_mode = transaction",
                # Server connections taken in turn, not the last one released: consecutive
                # transactions of one client land on different ones, as under load.
                "server_round_robin = 1",
                f"default_pool_size = {SERVER_CONNECTIONS}",
                "max_client_conn = 500",
                "ignore_startup_parameters = extra_float_digits,options",
                "",
            ]
        )
    )
    return config


@contextlib.contextmanager
def running_pgbouncer(directory: Path, admin_url: str) -> Iterator[int]:
    """PgBouncer on a free port until the block ends; yields the port."""
    port = free_port()
    config = _config(directory, port, admin_url)
    command = [binary(), str(config)]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    with (directory / "output.txt").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(process, port, admin_url, directory)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def through(url: str, port: int) -> str:
    """``url`` (libpq or SQLAlchemy form) rewritten to go through PgBouncer on ``port``."""
    scheme, _, rest = url.partition("://")
    credentials, _, location = rest.rpartition("@")
    _, _, database = location.partition("/")
    return f"{scheme}://{credentials}@127.0.0.1:{port}/{database}"


def warm(url: str) -> None:
    """Open every server connection of ``url``'s pool now: with them taken in turn, a
    statement prepared or a lock left on one of them is missing on the next."""
    connections = [psycopg.connect(url) for _ in range(SERVER_CONNECTIONS)]
    try:
        for conn in connections:
            conn.execute("SELECT 1")  # each holds a server connection until its commit
        for conn in connections:
            conn.commit()  # a client gone mid-transaction would take its server with it
    finally:
        for conn in connections:
            conn.close()


def _wait_until_up(process: subprocess.Popen[bytes], port: int, admin_url: str, d: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            said = (d / "output.txt").read_text()
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {said}")
        try:
            with psycopg.connect(through(admin_url, port), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
