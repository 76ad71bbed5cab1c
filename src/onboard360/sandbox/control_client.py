"""A small synchronous client of the control API (control.py), used by the CLI.

Every failure becomes one ``ControlError`` with a message fit for a terminal line:
the sandbox unreachable, or the sandbox's own refusal.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from onboard360.hub import platform as p

DEFAULT_URL = f"http://127.0.0.1:{p.DEFAULT_PORT}"
URL_ENV = "ONBOARD360_SANDBOX_URL"


class ControlError(Exception):
    """The sandbox could not be reached or refused the request."""


def default_url() -> str:
    return os.environ.get(URL_ENV) or DEFAULT_URL


def without_userinfo(url: str) -> str:
    """``url`` fit for a message: ``user:password@`` left out."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the given URL"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _message(response: httpx.Response) -> str:
    """The human message of an error answer, whichever of the sandbox's shapes it has."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict):
        meta, error = body.get("meta"), body.get("error")
        if isinstance(meta, dict) and meta.get("developer_message"):
            return str(meta["developer_message"])
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if body.get("detail"):
            return str(body["detail"])
    return response.reason_phrase


class ControlClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Messages name the sandbox without credentials a URL may carry.
        self.shown_url = without_userinfo(self.base_url)
        if not self.base_url.startswith(("http://", "https://")):
            raise ControlError(f"--url must be an http(s) URL like {DEFAULT_URL}")
        try:
            self._http = httpx.Client(
                base_url=f"{self.base_url}/sandbox", timeout=timeout, transport=transport
            )
        except httpx.InvalidURL:
            raise ControlError(f"--url is not a valid URL; e.g. {DEFAULT_URL}") from None

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException:
            raise ControlError(f"the sandbox at {self.shown_url} did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ControlError(
                f"cannot reach the sandbox at {self.shown_url} ({type(exc).__name__}); "
                f"is `onboard360 sandbox` running? (set --url or {URL_ENV})"
            ) from None
        if response.status_code >= 400:
            raise ControlError(f"HTTP {response.status_code}: {_message(response)}")
        try:
            return response.json()
        except ValueError:
            raise ControlError(
                f"{self.shown_url} answered something that is not JSON; is it the sandbox?"
            ) from None

    # ---- one method per control API call --------------------------------------------------

    def create_hub(self, spec: dict[str, Any]) -> Any:
        return self.request("POST", "/hubs", json=spec)

    def hubs(self) -> Any:
        return self.request("GET", "/hubs")

    def hub(self, partner_id: str) -> Any:
        return self.request("GET", f"/hubs/{partner_id}")

    def update_hub(self, partner_id: str, patch: dict[str, Any]) -> Any:
        return self.request("PATCH", f"/hubs/{partner_id}", json=patch)

    def update_faults(self, partner_id: str, patch: dict[str, Any]) -> Any:
        return self.request("PATCH", f"/hubs/{partner_id}/faults", json=patch)

    def create_client(self, partner_id: str, body: dict[str, Any]) -> Any:
        return self.request("POST", f"/hubs/{partner_id}/clients", json=body)

    def create_channel(self, client_id: str, body: dict[str, Any]) -> Any:
        return self.request("POST", f"/clients/{client_id}/channels", json=body)

    def channel(self, channel_id: str) -> Any:
        return self.request("GET", f"/channels/{channel_id}")

    def set_status(self, channel_id: str, status: str) -> Any:
        return self.request("POST", f"/channels/{channel_id}/status", json={"status": status})

    def trigger(self, channel_id: str, body: dict[str, Any]) -> Any:
        return self.request("POST", f"/channels/{channel_id}/events", json=body)

    def set_api_key_permission(self, client_id: str, granted: bool) -> Any:
        body = {"granted": granted}
        return self.request("POST", f"/clients/{client_id}/api-key-permission", json=body)

    def set_shared(self, channel_id: str, shared: bool) -> Any:
        return self.request("POST", f"/channels/{channel_id}/sharing", json={"shared": shared})

    def deliveries(self, **filters: Any) -> Any:
        return self.request("GET", "/deliveries", params=filters)

    def key_counts(self, partner_id: str, *, only_with_keys: bool = False) -> Any:
        params = {"only_with_keys": "true" if only_with_keys else None}
        return self.request("GET", f"/hubs/{partner_id}/key-counts", params=params)

    def seed(self, partner_id: str, body: dict[str, Any]) -> Any:
        return self.request("POST", f"/hubs/{partner_id}/seed", json=body)

    def clock(self) -> Any:
        return self.request("GET", "/clock")

    def set_clock(self, *, speed: float | None = None, advance_seconds: float = 0) -> Any:
        body: dict[str, Any] = {"advance_seconds": advance_seconds}
        if speed is not None:
            body["speed"] = speed
        return self.request("PATCH", "/clock", json=body)

    def client(self, client_id: str) -> Any:
        return self.request("GET", f"/clients/{client_id}")
