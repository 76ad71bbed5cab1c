"""Secrets at rest: a keyring of Fernet keys (the first encrypts, all decrypt).

API keys are bearer credentials, so they are stored as Fernet tokens (AES-128-CBC +
HMAC-SHA256, `cryptography`'s ``MultiFernet``) under the keys of
``Settings.encryption_keys``. Rotating the encryption key is: put a new key first, keep
the old one second, re-encrypt every token with ``Keyring.rotate`` (``onboard360
rotate-encryption-key``, onboard360/services/reencrypt.py), then drop the old key.

Tokens are plain Fernet tokens, with no prefix of our own. Fernet carries no key id, but
``needs_rotation`` can still tell cheaply: it tries the primary key alone (one HMAC over
a ~150-byte token, microseconds). Staying standard keeps every token readable by any
Fernet tool and by ``MultiFernet.rotate`` as is. Should the rotation command ever need to
find stale rows in SQL, store ``Keyring.fingerprint`` in a column next to the token.

In-memory secrets: use pydantic's ``SecretStr`` (as ``Settings`` does). Its ``repr`` and
``str`` are ``**********``, so it stays out of logs and tracebacks; call
``get_secret_value()`` only where the value leaves the process (an HTTP header, a cipher).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

KEY_BYTES = 32
FINGERPRINT_HEX = 8


class KeyringError(Exception):
    """The encryption keys are unusable, or a token cannot be decrypted with them."""


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 of 32 bytes), for ``encryption_keys``."""
    return Fernet.generate_key().decode("ascii")


def _raw_key(key: str | SecretStr, position: int, count: int) -> bytes:
    # Never put the key, or an error raised while decoding it, into the message.
    where = f"encryption key {position} of {count}"
    value = key.get_secret_value() if isinstance(key, SecretStr) else key
    if not isinstance(value, str):
        raise KeyringError(f"{where} is not a string")
    try:
        raw = base64.urlsafe_b64decode(value.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeyringError(
            f"{where} is not a Fernet key: expected {KEY_BYTES} bytes in url-safe base64 "
            "(44 characters, as made by onboard360.runtime.crypto.generate_key())"
        )
    return raw


def _fingerprint(raw: bytes) -> str:
    # 32 bits of a hash of a 256-bit random key: enough to tell keys apart, reveals nothing.
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:FINGERPRINT_HEX]


class Keyring:
    """Encrypts with the first key, decrypts with any. Build it with ``Keyring.from_keys``."""

    __slots__ = ("_fernet", "_fingerprints", "_primary")

    def __init__(self, fernets: Sequence[Fernet], fingerprints: Sequence[str]) -> None:
        if not fernets or len(fernets) != len(fingerprints):
            raise KeyringError("a keyring needs at least one key")
        self._primary = fernets[0]
        self._fernet = MultiFernet(list(fernets))
        self._fingerprints = tuple(fingerprints)

    @classmethod
    def from_keys(cls, keys: Sequence[str | SecretStr]) -> Keyring:
        """Validate ``keys`` (primary first) and build the keyring.

        Raises KeyringError naming the faulty entry by position, never by value.
        """
        if isinstance(keys, str | bytes | SecretStr):
            raise KeyringError("encryption keys must be a list of keys, not a single string")
        if not keys:
            raise KeyringError(
                "no encryption key configured: set encryption_keys to a list holding at "
                "least one key from onboard360.runtime.crypto.generate_key()"
            )
        raws = [_raw_key(key, position, len(keys)) for position, key in enumerate(keys, 1)]
        seen: dict[bytes, int] = {}
        for position, raw in enumerate(raws, 1):
            if raw in seen:
                raise KeyringError(
                    f"encryption key {position} of {len(raws)} repeats key {seen[raw]}: "
                    "list each key once, the one that encrypts first"
                )
            seen[raw] = position
        fernets = [Fernet(base64.urlsafe_b64encode(raw)) for raw in raws]
        return cls(fernets, [_fingerprint(raw) for raw in raws])

    @property
    def fingerprint(self) -> str:
        """Identifies the primary key in logs and rows without revealing it."""
        return self._fingerprints[0]

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return self._fingerprints

    def encrypt(self, plaintext: str | SecretStr) -> bytes:
        """A Fernet token (url-safe base64 ASCII bytes) under the primary key."""
        if isinstance(plaintext, SecretStr):
            plaintext = plaintext.get_secret_value()
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            plaintext = self._fernet.decrypt(token)
        except (InvalidToken, TypeError):
            raise KeyringError(
                "cannot decrypt: no configured key fits (was the encryption key rotated away?)"
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyringError("cannot decrypt: the plaintext is not UTF-8 text") from None

    def needs_rotation(self, token: bytes) -> bool:
        """True when the primary key cannot decrypt ``token`` (an older key wrote it).

        Also True for a token no key can read; ``rotate`` then raises KeyringError.
        """
        try:
            self._primary.decrypt(token)
        except (InvalidToken, TypeError):
            return True
        return False

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt ``token`` under the primary key (keeps its original Fernet timestamp)."""
        try:
            return self._fernet.rotate(token)
        except (InvalidToken, TypeError):
            raise KeyringError(
                "cannot rotate: no configured key fits (was the encryption key rotated away?)"
            ) from None

    def __repr__(self) -> str:
        return f"<Keyring keys={len(self._fingerprints)} primary={self.fingerprint}>"

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would write the raw keys wherever the pickle goes (a job queue, a cache).
        raise TypeError("a Keyring cannot be pickled; build it from settings where needed")
