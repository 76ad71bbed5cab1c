"""Partner API authentication: the `x-api-key` header, or the legacy bearer token."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr

from onboard360.hub.errors import HubAuthError, HubBadRequest

# Refresh a cached token this long before 360dialog says it expires.
TOKEN_MARGIN_SECONDS = 60


class HubAuth:
    """Adds the partner's credentials to a request; may need a round trip first."""

    async def headers(self, client: httpx.AsyncClient, base_url: str) -> dict[str, str]:
        raise NotImplementedError

    def invalidate(self) -> None:
        """Forget cached credentials after a 401 (tokens may be revoked early)."""


@dataclass
class ApiKeyAuth(HubAuth):
    api_key: SecretStr

    async def headers(self, client: httpx.AsyncClient, base_url: str) -> dict[str, str]:
        return {"x-api-key": self.api_key.get_secret_value()}


@dataclass
class TokenAuth(HubAuth):
    """``POST /token`` with the hub user's credentials, cached until shortly before expiry."""

    username: str
    password: SecretStr
    clock: Callable[[], float] = time.monotonic
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = 0.0

    async def headers(self, client: httpx.AsyncClient, base_url: str) -> dict[str, str]:
        if self._token is None or self.clock() >= self._expires_at:
            await self._fetch(client, base_url)
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        self._token = None

    async def _fetch(self, client: httpx.AsyncClient, base_url: str) -> None:
        body = {"username": self.username, "password": self.password.get_secret_value()}
        response = await client.post(f"{base_url}/token", json=body)
        if response.status_code in (400, 401, 403):
            raise HubAuthError(
                f"POST /token answered {response.status_code}: the hub user or password is wrong",
                status=response.status_code,
            )
        response.raise_for_status()
        try:
            data = response.json()
            token, ttl = str(data["access_token"]), float(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise HubBadRequest("POST /token answered without an access_token") from exc
        self._token = token
        self._expires_at = self.clock() + max(ttl - TOKEN_MARGIN_SECONDS, 0)
