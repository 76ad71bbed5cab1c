"""`onboard360 rotate-encryption-key` on a real PostgreSQL: keys under A end up under B."""

from __future__ import annotations

import asyncio
import json
import subprocess

import psycopg

from onboard360.db.embedded import to_libpq_uri
from onboard360.db.pooling import one_off_async_engine
from onboard360.runtime.crypto import Keyring, generate_key
from onboard360.services.reencrypt import ReencryptReport, reencrypt_api_keys, rotate_rows
from tests.cli_process import run_onboard360

KEY_A = generate_key()
KEY_B = generate_key()
PLAINTEXTS = [f"channel-key-{n:03d}-secret" for n in range(7)]


def store_keys(database_url: str, key: str, plaintexts: list[str]) -> None:
    keyring = Keyring.from_keys([key])
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        for n, plaintext in enumerate(plaintexts):
            conn.execute(
                "INSERT INTO api_keys (hub, channel_id, intent, ciphertext) VALUES (%s, %s, 1, %s)",
                ("pp", f"CH{n:04d}{key[:4]}", keyring.encrypt(plaintext)),
            )


def ciphertexts(database_url: str) -> dict[int, bytes]:
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        rows = conn.execute("SELECT id, ciphertext FROM api_keys ORDER BY id").fetchall()
    return {row[0]: bytes(row[1]) for row in rows}


def rotate(database_url: str, keys: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "ONBOARD360_DATABASE_URL": to_libpq_uri(database_url),
        "ONBOARD360_ENCRYPTION_KEYS": json.dumps(keys),
    }
    return run_onboard360("rotate-encryption-key", *extra, env=env, timeout=60)


def test_every_key_decrypts_with_the_new_key_alone(database_url: str) -> None:
    store_keys(database_url, KEY_A, PLAINTEXTS)
    result = rotate(database_url, [KEY_B, KEY_A], "--batch-size", "3")
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 7 stored key(s)" in result.stdout
    only_b = Keyring.from_keys([KEY_B])
    assert [only_b.decrypt(token) for token in ciphertexts(database_url).values()] == PLAINTEXTS


def test_running_twice_changes_nothing_the_second_time(database_url: str) -> None:
    store_keys(database_url, KEY_A, PLAINTEXTS)
    assert rotate(database_url, [KEY_B, KEY_A]).returncode == 0
    first = ciphertexts(database_url)
    again = rotate(database_url, [KEY_B, KEY_A])
    assert again.returncode == 0, again.stderr
    assert "re-encrypted 0 stored key(s)" in again.stdout
    assert "7 already under it" in again.stdout
    assert ciphertexts(database_url) == first


def test_a_row_no_key_can_read_is_named_and_left_alone(database_url: str) -> None:
    store_keys(database_url, KEY_A, PLAINTEXTS[:2])
    lost = generate_key()
    store_keys(database_url, lost, ["orphan-key-value"])
    before = ciphertexts(database_url)
    result = rotate(database_url, [KEY_B, KEY_A])
    assert result.returncode == 1
    assert "1 stored key(s) cannot be decrypted with any configured key" in result.stderr
    assert "Traceback" not in result.stderr
    orphan_id = max(before)
    assert f"#{orphan_id} (pp/" in result.stderr
    output = result.stdout + result.stderr
    for secret in (KEY_A, KEY_B, lost, before[orphan_id].decode()):
        assert secret not in output
    after = ciphertexts(database_url)
    assert after[orphan_id] == before[orphan_id]
    assert Keyring.from_keys([KEY_B]).decrypt(after[min(after)]) == PLAINTEXTS[0]


def test_a_row_locked_by_another_transaction_is_skipped_then_retried(database_url: str) -> None:
    store_keys(database_url, KEY_A, PLAINTEXTS[:3])
    keyring = Keyring.from_keys([KEY_B, KEY_A])
    ids = list(ciphertexts(database_url))

    async def run_while_locked() -> tuple[list[int], ReencryptReport]:
        engine = one_off_async_engine(database_url)
        report = ReencryptReport(keyring.fingerprint)
        try:
            with psycopg.connect(to_libpq_uri(database_url)) as holder:
                holder.execute("SELECT 1 FROM api_keys WHERE id = %s FOR UPDATE", (ids[1],))
                skipped = await rotate_rows(engine, keyring, ids, report, skip_locked=True)
            # The lock is gone with the holder's transaction: a second run finishes.
            final = await reencrypt_api_keys(engine, keyring)
        finally:
            await engine.dispose()
        assert report.reencrypted == 2
        return skipped, final

    skipped, final = asyncio.run(run_while_locked())
    assert skipped == [ids[1]]
    assert final.reencrypted == 1
    assert final.already_current == 2
    only_b = Keyring.from_keys([KEY_B])
    assert [only_b.decrypt(t) for t in ciphertexts(database_url).values()] == PLAINTEXTS[:3]
