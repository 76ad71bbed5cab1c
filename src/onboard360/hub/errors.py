"""What can go wrong when talking to 360dialog, mapped once at the transport boundary.

    HubError
    ├── HubUnavailable        connection failure, timeout or 5xx after every retry
    │   └── HubOutcomeUnknown a call that is not safe to repeat was sent and got no
    │                         clear answer (timeout, reset, 5xx): it may have happened
    ├── HubRateLimited        429 after every retry (carries retry_after)
    ├── HubAuthError          401: the partner credentials (or a channel key) are wrong
    ├── HubPermissionRefused  400/403 on key generation: no permission, or not running
    ├── HubNotFound           404
    └── HubBadRequest         any other 4xx, or an answer we cannot read

Messages name the call and the status and quote 360dialog's own message, never a
credential: request headers are not part of any error.
"""

from __future__ import annotations


class HubError(Exception):
    """360dialog answered something we did not expect."""

    def __init__(self, message: str | None = None, *, status: int | None = None) -> None:
        super().__init__(message or self.__doc__ or "hub error")
        self.status = status


class HubUnavailable(HubError):
    """360dialog could not be reached or kept failing; try again later."""


class HubOutcomeUnknown(HubUnavailable):
    """The request was sent and no clear answer came back: 360dialog may have done it.
    Raised, never retried, for calls that must not be repeated blindly (key generation)."""


class HubRateLimited(HubError):
    """360dialog is rate-limiting these calls; slow down."""

    def __init__(
        self, message: str | None = None, *, status: int | None = 429, retry_after: float = 0
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class HubAuthError(HubError):
    """360dialog refused the credentials; check the hub's API key or user and password."""


class HubPermissionRefused(HubError):
    """360dialog refused: the partner may not do this for that channel (yet)."""


class HubNotFound(HubError):
    """360dialog knows no such partner, client or channel."""


class HubBadRequest(HubError):
    """360dialog rejected the request, or answered in a shape we cannot read."""
