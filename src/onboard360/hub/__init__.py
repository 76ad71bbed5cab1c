"""The 360dialog Partner API and Messaging API, as onboard360 calls them."""

from onboard360.hub.auth import ApiKeyAuth, HubAuth, TokenAuth
from onboard360.hub.client import MessagingAPI, PartnerAPI, RetryPolicy
from onboard360.hub.errors import (
    HubAuthError,
    HubBadRequest,
    HubError,
    HubNotFound,
    HubOutcomeUnknown,
    HubPermissionRefused,
    HubRateLimited,
    HubUnavailable,
)
from onboard360.hub.models import ChannelInfo, ClientInfo, GeneratedKey, Page

__all__ = [
    "ApiKeyAuth",
    "ChannelInfo",
    "ClientInfo",
    "GeneratedKey",
    "HubAuth",
    "HubAuthError",
    "HubBadRequest",
    "HubError",
    "HubNotFound",
    "HubOutcomeUnknown",
    "HubPermissionRefused",
    "HubRateLimited",
    "HubUnavailable",
    "MessagingAPI",
    "Page",
    "PartnerAPI",
    "RetryPolicy",
    "TokenAuth",
]
