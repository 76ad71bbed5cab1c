"""Domain states ⇄ JSON for the ``state`` columns. Explicit, so a schema change is visible."""

from __future__ import annotations

from typing import Any

from onboard360.domain import ChannelId, ClientId
from onboard360.domain.clients import ClientState
from onboard360.domain.effects import ProductEvent
from onboard360.domain.lifecycle import Billing, ChannelState, KeyStatus, Permission

STATE_VERSION = 1


def channel_to_json(state: ChannelState) -> dict[str, Any]:
    return {
        "v": STATE_VERSION,
        "channel_id": state.channel_id,
        "billing": state.billing.value,
        "client_id": state.client_id,
        "phone_number": state.phone_number,
        "status": state.status,
        "statuses_seen": sorted(state.statuses_seen),
        "permission": state.permission.value,
        "permission_sequence": state.permission_sequence,
        "key": state.key.value,
        "key_intent": state.key_intent,
        "key_rotating": state.key_rotating,
        "announced": sorted(event.value for event in state.announced),
        "violations": sorted(state.violations),
        "template_messaging": state.template_messaging,
        "account_mode": state.account_mode,
        "fb_account_status": state.fb_account_status,
    }


def channel_from_json(data: dict[str, Any]) -> ChannelState:
    return ChannelState(
        channel_id=ChannelId(data["channel_id"]),
        billing=Billing(data["billing"]),
        client_id=ClientId(data["client_id"]) if data.get("client_id") else None,
        phone_number=data.get("phone_number"),
        status=data.get("status"),
        statuses_seen=frozenset(data.get("statuses_seen", ())),
        permission=Permission(data["permission"]),
        permission_sequence=int(data["permission_sequence"]),
        key=KeyStatus(data["key"]),
        key_intent=int(data["key_intent"]),
        key_rotating=bool(data.get("key_rotating", False)),
        announced=frozenset(ProductEvent(e) for e in data.get("announced", ())),
        violations=frozenset(data.get("violations", ())),
        template_messaging=data.get("template_messaging"),
        account_mode=data.get("account_mode"),
        fb_account_status=data.get("fb_account_status"),
    )


def client_to_json(state: ClientState) -> dict[str, Any]:
    return {
        "v": STATE_VERSION,
        "client_id": state.client_id,
        "known": state.known,
        "channel_ids": list(state.channel_ids),
    }


def client_from_json(data: dict[str, Any]) -> ClientState:
    return ClientState(
        client_id=ClientId(data["client_id"]),
        known=bool(data["known"]),
        channel_ids=tuple(ChannelId(c) for c in data.get("channel_ids", ())),
    )
