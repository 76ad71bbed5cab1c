"""httpx clients for the Partner API and the Messaging API, with retries at one boundary.

Every call goes through ``_Transport.request``: auth headers, retries with exponential
backoff on timeouts, connection errors, 429 (honouring ``Retry-After``) and 5xx, and
the mapping of what is left to the error tree in errors.py.

A call that must not happen twice (``POST …/api_keys``: each one makes a new key and
revokes the last) is sent with ``repeatable=False``: it is retried only when 360dialog
surely did nothing (the connection was never made, or 429); a timeout, a broken
connection or a 5xx after sending raise ``HubOutcomeUnknown`` at once, for the caller to
decide (jobs/keys.py, docs/decisions/0002).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import stamina

from onboard360.hub import errors as e
from onboard360.hub.auth import HubAuth
from onboard360.hub.models import ChannelInfo, ClientInfo, GeneratedKey, Page, T
from onboard360.runtime import metrics

PARTNER_API_URL = "https://hub.360dialog.io/api/v2"
MESSAGING_API_URL = "https://waba-v2.360dialog.io"
MAX_RETRY_AFTER_SECONDS = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one call (stamina: attempts within ``timeout`` seconds in all), and how
    long one request may take (``request_timeout``: connect + answer)."""

    request_timeout: float = 15.0
    attempts: int = 5
    timeout: float = 60.0
    wait_initial: float = 0.5
    wait_max: float = 10.0
    wait_jitter: float = 1.0


# Transport errors that prove the request never reached 360dialog.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _Retryable(Exception):
    def __init__(self, error: e.HubError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _backoff(exc: Exception) -> bool | float:
    if not isinstance(exc, _Retryable):
        return False
    if exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
    return True


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    """360dialog's own words from an error body, bounded; never request data."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    meta = body.get("meta") if isinstance(body, dict) else None
    if isinstance(meta, dict) and meta.get("developer_message"):
        return str(meta["developer_message"])[:300]
    return response.reason_phrase


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    params: Mapping[str, str | int] | None
    json_body: Any
    headers: Mapping[str, str] | None
    refused: type[e.HubError]
    repeatable: bool = True


class _Transport:
    def __init__(
        self,
        base_url: str,
        auth: HubAuth | None,
        client: httpx.AsyncClient,
        retry: RetryPolicy,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.client = client
        self.retry = retry

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        refused: type[e.HubError] = e.HubBadRequest,
        repeatable: bool = True,
    ) -> Any:
        """Send with retries; answer the decoded JSON body or raise a HubError."""
        call = _Call(method, path, params, json_body, headers, refused, repeatable)
        try:
            async for attempt in stamina.retry_context(
                on=_backoff,
                attempts=self.retry.attempts,
                timeout=self.retry.timeout,
                wait_initial=self.retry.wait_initial,
                wait_max=self.retry.wait_max,
                wait_jitter=self.retry.wait_jitter,
            ):
                with attempt:
                    return await self._once(call)
        except _Retryable as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, call: _Call) -> Any:
        what = f"{call.method} {call.path}"
        started = time.perf_counter()
        sent = dict(call.headers or {})
        try:
            if self.auth is not None:
                sent.update(await self.auth.headers(self.client, self.base_url))
        except httpx.HTTPStatusError as exc:  # from the token call
            metrics.hub_call("POST", "/token", exc.response.status_code, _since(started))
            raise self._classify(exc.response, "POST /token", e.HubBadRequest) from None
        except httpx.TransportError as exc:  # the token call: our request was not sent
            raise _Retryable(e.HubUnavailable(f"POST /token: {type(exc).__name__}")) from None
        try:
            response = await self.client.request(
                call.method,
                self.base_url + call.path,
                params=call.params,
                json=call.json_body,
                headers=sent,
            )
        except httpx.TransportError as exc:
            metrics.hub_call(call.method, call.path, None, _since(started))
            if not call.repeatable and not isinstance(exc, _NOT_SENT):
                raise e.HubOutcomeUnknown(
                    f"{what}: {type(exc).__name__} after sending; 360dialog may have done it"
                ) from None
            raise _Retryable(e.HubUnavailable(f"{what}: {type(exc).__name__}")) from None
        metrics.hub_call(call.method, call.path, response.status_code, _since(started))
        if not call.repeatable and response.status_code >= 500:
            raise e.HubOutcomeUnknown(
                f"{what} answered {response.status_code}: {_message(response)}; "
                "360dialog may have done it",
                status=response.status_code,
            )
        if response.is_success:
            try:
                return response.json() if response.content else None
            except ValueError:
                raise e.HubBadRequest(f"{what} answered a body that is not JSON") from None
        if response.status_code == 401 and self.auth is not None:
            self.auth.invalidate()
        raise self._classify(response, what, call.refused)

    @staticmethod
    def _classify(response: httpx.Response, what: str, refused: type[e.HubError]) -> Exception:
        status = response.status_code
        text = f"{what} answered {status}: {_message(response)}"
        if status == 429:
            wait = _retry_after(response)
            return _Retryable(e.HubRateLimited(text, retry_after=wait or 0), retry_after=wait)
        if status >= 500:
            return _Retryable(e.HubUnavailable(text, status=status))
        if status == 401:
            return e.HubAuthError(text, status=status)
        if status == 404:
            return e.HubNotFound(text, status=status)
        if status in (400, 403):
            return refused(text, status=status)
        return e.HubBadRequest(text, status=status)


def _since(started: float) -> float:
    return time.perf_counter() - started


def _page(items: list[T], data: Mapping[str, Any], offset: int, limit: int) -> Page[T]:
    return Page(items=items, total=int(data.get("total", len(items))), offset=offset, limit=limit)


class PartnerAPI:
    """One Partner Hub's view of the Partner API."""

    def __init__(
        self,
        partner_id: str,
        auth: HubAuth,
        *,
        base_url: str = PARTNER_API_URL,
        client: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.partner_id = partner_id
        self._http = _Transport(base_url, auth, client, retry or RetryPolicy())

    @property
    def _partner_path(self) -> str:
        return f"/partners/{self.partner_id}"

    async def channels_page(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        sort: str = "created_at",
        limit: int = 100,
        offset: int = 0,
    ) -> Page[ChannelInfo]:
        data = await self._list("channels", filters, sort, limit, offset)
        items = [ChannelInfo.from_api(row) for row in data.get("partner_channels", [])]
        return Page(
            items=items, total=int(data.get("total", len(items))), offset=offset, limit=limit
        )

    async def clients_page(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        sort: str = "created_at",
        limit: int = 100,
        offset: int = 0,
    ) -> Page[ClientInfo]:
        data = await self._list("clients", filters, sort, limit, offset)
        items = [ClientInfo.model_validate({**row, "raw": row}) for row in data.get("clients", [])]
        return Page(
            items=items, total=int(data.get("total", len(items))), offset=offset, limit=limit
        )

    async def iter_channels(
        self, *, filters: Mapping[str, Any] | None = None, page_size: int = 100
    ) -> AsyncIterator[ChannelInfo]:
        offset = 0
        while True:
            page = await self.channels_page(filters=filters, limit=page_size, offset=offset)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    async def get_channel(self, channel_id: str) -> ChannelInfo | None:
        page = await self.channels_page(filters={"id": channel_id}, limit=1)
        return page.items[0] if page.items else None

    async def generate_api_key(self, channel_id: str) -> GeneratedKey:
        """Generate the channel's key. 360dialog revokes every earlier key of the channel.

        Never repeated here: HubOutcomeUnknown when a key may have been made unseen."""
        data = await self._http.request(
            "POST",
            f"{self._partner_path}/channels/{channel_id}/api_keys",
            refused=e.HubPermissionRefused,
            repeatable=False,
        )
        # Older answers wrap the key in {"api_keys": [...]}.
        if isinstance(data, dict) and isinstance(data.get("api_keys"), list) and data["api_keys"]:
            data = data["api_keys"][-1]
        if not isinstance(data, dict) or not data.get("api_key"):
            raise e.HubBadRequest("POST api_keys answered without an api_key")
        return GeneratedKey.model_validate(data)

    async def get_partner(self) -> dict[str, Any]:
        """The partner object: ``id``, ``webhook_url``, ``partner_redirect_url``, … (doc)."""
        data = await self._http.request("GET", self._partner_path)
        if not isinstance(data, dict):
            raise e.HubBadRequest("GET partner answered something that is not an object")
        return data

    async def update_partner(
        self, *, webhook_url: str | None = None, redirect_url: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, str] = {}
        if webhook_url is not None:
            body["webhook_url"] = webhook_url
        if redirect_url is not None:
            body["partner_redirect_url"] = redirect_url
        return await self._http.request("PATCH", self._partner_path, json_body=body)

    async def _list(
        self,
        what: str,
        filters: Mapping[str, Any] | None,
        sort: str,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        params: dict[str, str | int] = {"sort": sort, "limit": limit, "offset": offset}
        if filters:
            params["filters"] = json.dumps(dict(filters), separators=(",", ":"))
        data = await self._http.request("GET", f"{self._partner_path}/{what}", params=params)
        if not isinstance(data, dict):
            raise e.HubBadRequest(f"GET {what} answered something that is not an object")
        return data


class MessagingAPI:
    """The per-channel Messaging API: only the webhook configuration onboard360 needs."""

    def __init__(
        self,
        *,
        base_url: str = MESSAGING_API_URL,
        client: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = _Transport(base_url, None, client, retry or RetryPolicy())

    async def set_webhook(
        self, api_key: str, url: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url}
        if headers:
            body["headers"] = dict(headers)
        return await self._http.request(
            "POST", "/v1/configs/webhook", json_body=body, headers={"D360-API-KEY": api_key}
        )

    async def get_webhook(self, api_key: str) -> dict[str, Any]:
        return await self._http.request(
            "GET", "/v1/configs/webhook", headers={"D360-API-KEY": api_key}
        )

    async def key_works(self, api_key: str) -> bool:
        """Whether 360dialog accepts ``api_key``: one read-only call (GET the webhook
        config). False on 401/403; any other failure (5xx, timeout, 429: HubRateLimited)
        is raised, since it says nothing about the key."""
        try:
            await self.get_webhook(api_key)
        except (e.HubAuthError, e.HubBadRequest) as exc:
            if exc.status in {401, 403}:
                return False
            raise
        return True
