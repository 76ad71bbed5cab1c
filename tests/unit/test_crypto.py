"""The keyring: round trips, rotation, and never a key in a message or a repr."""

from __future__ import annotations

import base64
import pickle

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from onboard360.runtime.crypto import Keyring, KeyringError, generate_key

OLD = generate_key()
NEW = generate_key()
OTHER = generate_key()
API_KEY = "d360-api-key-abcdefghijklmnopqrstuvwxyz"


def test_generated_key_is_a_fernet_key() -> None:
    key = generate_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    Fernet(key)  # accepted as is
    assert generate_key() != key


def test_encrypt_then_decrypt_gives_the_plaintext() -> None:
    keyring = Keyring.from_keys([NEW])
    token = keyring.encrypt(API_KEY)
    assert isinstance(token, bytes)
    assert API_KEY.encode() not in token
    assert keyring.decrypt(token) == API_KEY


def test_unicode_and_empty_plaintexts_round_trip() -> None:
    keyring = Keyring.from_keys([NEW])
    for text in ("", "clé-🔑"):
        assert keyring.decrypt(keyring.encrypt(text)) == text


def test_secret_str_is_accepted_for_keys_and_plaintext() -> None:
    keyring = Keyring.from_keys([SecretStr(NEW)])
    assert keyring.decrypt(keyring.encrypt(SecretStr(API_KEY))) == API_KEY


def test_token_from_the_old_key_still_decrypts_when_it_is_second() -> None:
    token = Keyring.from_keys([OLD]).encrypt(API_KEY)
    assert Keyring.from_keys([NEW, OLD]).decrypt(token) == API_KEY


def test_new_tokens_are_written_with_the_first_key() -> None:
    token = Keyring.from_keys([NEW, OLD]).encrypt(API_KEY)
    assert Keyring.from_keys([NEW]).decrypt(token) == API_KEY
    with pytest.raises(KeyringError):
        Keyring.from_keys([OLD]).decrypt(token)


def test_rotated_token_decrypts_with_only_the_new_key() -> None:
    old_token = Keyring.from_keys([OLD]).encrypt(API_KEY)
    rotated = Keyring.from_keys([NEW, OLD]).rotate(old_token)
    assert Keyring.from_keys([NEW]).decrypt(rotated) == API_KEY


def test_needs_rotation_tells_old_tokens_from_current_ones() -> None:
    keyring = Keyring.from_keys([NEW, OLD])
    old_token = Keyring.from_keys([OLD]).encrypt(API_KEY)
    assert keyring.needs_rotation(old_token)
    assert not keyring.needs_rotation(keyring.rotate(old_token))
    assert not keyring.needs_rotation(keyring.encrypt(API_KEY))


def test_rotating_a_token_no_key_fits_raises() -> None:
    stranger = Keyring.from_keys([OTHER]).encrypt(API_KEY)
    with pytest.raises(KeyringError, match="cannot rotate"):
        Keyring.from_keys([NEW, OLD]).rotate(stranger)


def test_wrong_key_raises_keyring_error_without_key_material() -> None:
    token = Keyring.from_keys([OLD]).encrypt(API_KEY)
    with pytest.raises(KeyringError) as caught:
        Keyring.from_keys([NEW]).decrypt(token)
    message = str(caught.value)
    assert message == (
        "cannot decrypt: no configured key fits (was the encryption key rotated away?)"
    )
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    for secret in (OLD, NEW, API_KEY):
        assert secret not in message


@pytest.mark.parametrize("token", [b"", b"not a token", b"gAAAAA" + b"A" * 80])
def test_garbage_token_raises_keyring_error(token: bytes) -> None:
    with pytest.raises(KeyringError, match="cannot decrypt"):
        Keyring.from_keys([NEW]).decrypt(token)


def test_empty_key_list_is_refused() -> None:
    with pytest.raises(KeyringError, match="no encryption key configured"):
        Keyring.from_keys([])


def test_a_single_string_instead_of_a_list_is_refused() -> None:
    with pytest.raises(KeyringError, match="list of keys"):
        Keyring.from_keys(NEW)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "too-short",
        base64.urlsafe_b64encode(b"x" * 16).decode(),  # 16 bytes, not 32
        base64.urlsafe_b64encode(b"x" * 33).decode(),
        NEW[:-2] + "!!",
        "é" * 44,
    ],
    # Ids must not show the random key: xdist workers must collect the same names.
    ids=["empty", "short", "16-bytes", "33-bytes", "not-base64", "not-ascii"],
)
def test_invalid_key_names_its_position_and_not_its_value(bad: str) -> None:
    with pytest.raises(KeyringError) as caught:
        Keyring.from_keys([NEW, bad])
    message = str(caught.value)
    assert "encryption key 2 of 2" in message
    assert NEW not in message
    if bad:
        assert bad not in message
    assert caught.value.__cause__ is None


def test_non_string_key_is_refused() -> None:
    with pytest.raises(KeyringError, match="encryption key 1 of 1 is not a string"):
        Keyring.from_keys([b"bytes-key"])  # type: ignore[list-item]


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(KeyringError) as caught:
        Keyring.from_keys([NEW, OLD, NEW])
    assert "encryption key 3 of 3 repeats key 1" in str(caught.value)
    assert NEW not in str(caught.value)


def test_repr_and_str_show_no_key() -> None:
    keyring = Keyring.from_keys([NEW, OLD])
    shown = repr(keyring) + str(keyring)
    assert "keys=2" in shown
    assert keyring.fingerprint in shown
    for key in (NEW, OLD):
        assert key not in shown
        assert key.rstrip("=") not in shown


def test_fingerprints_are_stable_and_distinct() -> None:
    assert Keyring.from_keys([NEW]).fingerprint == Keyring.from_keys([NEW, OLD]).fingerprint
    assert Keyring.from_keys([NEW, OLD]).fingerprints[1] == Keyring.from_keys([OLD]).fingerprint
    assert Keyring.from_keys([NEW]).fingerprint != Keyring.from_keys([OLD]).fingerprint


def test_keyring_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Keyring.from_keys([NEW]))
