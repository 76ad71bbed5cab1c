"""What a running scenario talks to: the sandbox's control API, onboard360's API (as the
partner's product, with its bearer token) and a cookie jar standing in for the browser.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from onboard360.sandbox.control_client import ControlClient, ControlError
from onboard360.sandbox.scenario.base import Failed

T = TypeVar("T")

SERVICE_URL_ENV = "ONBOARD360_URL"
SERVICE_TOKEN_ENV = "ONBOARD360_API_TOKEN"  # noqa: S105 - the variable's name, not a token
POLL_SECONDS = 0.1


class ServiceApi:
    """onboard360's REST API (``/api/v1``) as the partner's product calls it."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            answer = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Failed(
                f"cannot reach onboard360 at {self.base_url} ({type(exc).__name__}); is it "
                f"running? (set --service-url or {SERVICE_URL_ENV})"
            ) from None
        if answer.status_code >= 400:
            raise Failed(
                f"onboard360 answered {method} {path} with {answer.status_code}: "
                f"{error_message(answer)}"
            )
        try:
            return answer.json()
        except ValueError:
            raise Failed(
                f"{self.base_url} answered {path} with something not JSON; is it onboard360?"
            ) from None

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        """The product's newest events (one page), newest first."""
        params = {k: v for k, v in filters.items() if v is not None}
        page: dict[str, Any] = self.request("GET", "/events", params={"limit": 200, **params})
        return list(page["data"])


def error_message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text.strip()[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(body)[:200]


@dataclass
class Context:
    """Given to each step's ``run``."""

    sandbox: ControlClient
    service: ServiceApi | None
    browser: httpx.Client
    run_id: str
    say: Callable[[str], None] = print
    notes: list[str] = field(default_factory=list)
    # The popup links (onboard360's opener URL) of the onboardings earlier steps started or
    # resumed, by onboarding id: a later `popup` with `onboarding` opens one.
    links: dict[str, str] = field(default_factory=dict)

    def require_service(self, what: str) -> ServiceApi:
        if self.service is None:
            raise Failed(
                f"{what} needs onboard360: give --service-url and --token "
                f"(or {SERVICE_URL_ENV} and {SERVICE_TOKEN_ENV})"
            )
        return self.service

    def control(self, call: Callable[[ControlClient], T]) -> T:
        """A control API call; the sandbox's refusal fails the step."""
        try:
            return call(self.sandbox)
        except ControlError as exc:
            raise Failed(f"the sandbox: {exc}") from None


def wait_for(
    check: Callable[[], tuple[bool, str]], within: float, *, absent: bool = False
) -> tuple[bool, str]:
    """Poll ``check`` (answering: met?, what was seen) until met or ``within`` seconds pass.

    ``absent``: the condition must stay unmet for the whole time instead. Answers whether
    the expectation held and the last thing seen.
    """
    deadline = time.monotonic() + within
    while True:
        met, seen = check()
        if met and not absent:
            return True, seen
        if met and absent:
            return False, seen
        if time.monotonic() >= deadline:
            return absent, seen
        time.sleep(POLL_SECONDS)
