"""`onboard360 migrate` as a user runs it: a real process, a real PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

from onboard360.db.embedded import to_libpq_uri
from onboard360.db.migrate import current_revision, head_revision
from tests.cli_process import run_onboard360


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_onboard360(*args, env=env, cwd=cwd)


def test_migrate_brings_a_configured_server_to_head(database_url: str, tmp_path: Path) -> None:
    result = run_cli(
        "migrate", env={"ONBOARD360_DATABASE_URL": to_libpq_uri(database_url)}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert current_revision(database_url) == head_revision()


def test_migrate_starts_and_migrates_the_embedded_default(tmp_path: Path) -> None:
    result = run_cli("migrate", env={"ONBOARD360_DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "pgdata" / "PG_VERSION").is_file()


def test_unreachable_server_is_one_clear_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://o360:s3cretpassw0rd@127.0.0.1:1/nowhere"
    result = run_cli("migrate", env={"ONBOARD360_DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 2
    assert "error: migration failed: cannot connect to the database at" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cretpassw0rd" not in result.stderr + result.stdout


def test_invalid_database_url_is_refused_before_connecting(tmp_path: Path) -> None:
    result = run_cli("migrate", env={"ONBOARD360_DATABASE_URL": "not a url"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid configuration: database_url" in result.stderr
    assert "Traceback" not in result.stderr
