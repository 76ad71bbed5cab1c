"""Domain states ⇄ JSON for the ``state`` columns. Explicit, so a schema change is visible."""

from __future__ import annotations

from typing import Any

from onboard360.domain import ChannelId, ClientId
from onboard360.domain.channel import ChannelState, KeyStatus
from onboard360.domain.clients import ClientState
from onboard360.domain.effects import ProductEvent
from onboard360.domain.permission import Billing, Entitlement, KeyPermission

# 2: `permission` split into `shared` and `key_permission` (version 1 rows still decode).
# 3: `entitlement` kept (older rows decode it from what they prove: _legacy_entitlement).
STATE_VERSION = 3


def channel_to_json(state: ChannelState) -> dict[str, Any]:
    return {
        "v": STATE_VERSION,
        "channel_id": state.channel_id,
        "billing": state.billing.value,
        "client_id": state.client_id,
        "phone_number": state.phone_number,
        "status": state.status,
        "statuses_seen": sorted(state.statuses_seen),
        "shared": state.shared,
        "key_permission": state.key_permission.value,
        "permission_sequence": state.permission_sequence,
        "key": state.key.value,
        "key_intent": state.key_intent,
        "key_intent_sequence": state.key_intent_sequence,
        "key_rotating": state.key_rotating,
        "key_refused_intent": state.key_refused_intent,
        "key_losses": state.key_losses,
        "announced": sorted(event.value for event in state.announced),
        "violations": sorted(state.violations),
        "template_messaging": state.template_messaging,
        "account_mode": state.account_mode,
        "fb_account_status": state.fb_account_status,
        "entitlement": state.entitlement.value if state.entitlement else None,
    }


# Enum members by value: a dict lookup costs a fraction of calling the enum, and every
# page of a sync decodes a thousand states.
_BILLING = {member.value: member for member in Billing}
_KEY_PERMISSION = {member.value: member for member in KeyPermission}
_KEY_STATUS = {member.value: member for member in KeyStatus}
_PRODUCT_EVENT = {member.value: member for member in ProductEvent}
_ENTITLEMENT = {member.value: member for member in Entitlement}


def channel_from_json(data: dict[str, Any]) -> ChannelState:
    get = data.get
    owner = get("client_id")
    billing = _BILLING[data["billing"]]
    key = _KEY_STATUS[data["key"]]
    permission_sequence = int(data["permission_sequence"])
    if "key_permission" in data:
        shared, key_permission = data["shared"], _KEY_PERMISSION[data["key_permission"]]
    else:
        shared, key_permission = _split_v1_permission(data, billing, key)
    if "entitlement" in data:
        entitlement = _ENTITLEMENT.get(data["entitlement"]) if data["entitlement"] else None
    else:
        entitlement = _legacy_entitlement(shared, permission_sequence, int(data["key_intent"]))
    return ChannelState(
        channel_id=ChannelId(data["channel_id"]),
        billing=billing,
        client_id=ClientId(owner) if owner else None,
        phone_number=get("phone_number"),
        status=get("status"),
        statuses_seen=frozenset(get("statuses_seen", ())),
        shared=shared,
        key_permission=key_permission,
        permission_sequence=permission_sequence,
        key=key,
        key_intent=int(data["key_intent"]),
        # Rows written before it was kept: as if asked at the newest sequence (a refusal
        # of their intent in flight counts, as it did when they were written).
        key_intent_sequence=int(get("key_intent_sequence", permission_sequence)),
        key_rotating=bool(get("key_rotating", False)),
        key_refused_intent=int(get("key_refused_intent", 0)),
        key_losses=int(get("key_losses", 0)),
        announced=frozenset([_PRODUCT_EVENT[e] for e in get("announced", ())]),
        violations=frozenset(get("violations", ())),
        template_messaging=get("template_messaging"),
        account_mode=get("account_mode"),
        fb_account_status=get("fb_account_status"),
        entitlement=entitlement,
    )


def _legacy_entitlement(
    shared: bool | None, permission_sequence: int, key_intent: int
) -> Entitlement | None:
    """Rows written before entitlement was kept: what they prove about it.

    A redirect or confirmation was applied (a sequence), or onboard360 generated a key
    (an intent: the key held elsewhere, if any, is dead already): onboard360's to key.
    Anything else was only seen through webhooks or sync: someone else's.
    """
    if shared is not None or permission_sequence > 0 or key_intent > 0:
        return Entitlement.ONBOARDING
    return None


def _split_v1_permission(
    data: dict[str, Any], billing: Billing, key: KeyStatus
) -> tuple[bool | None, KeyPermission]:
    """Version 1 kept one ``permission``; what it proved about each of the two facts.

    ``granted`` came from a redirect or an operator: shared, and API-key permission known
    only when a Direct Payment key had been generated. ``refused`` came from a key attempt,
    shared if a redirect / confirmation had been applied before it.
    """
    permission = data["permission"]
    if permission == "granted":
        keyed = key is KeyStatus.STORED or bool(data.get("key_rotating"))
        proven = billing is Billing.DIRECT_PAYMENT and keyed
        return True, KeyPermission.GRANTED if proven else KeyPermission.UNKNOWN
    if permission == "refused":
        return (True if int(data["permission_sequence"]) > 0 else None), KeyPermission.REFUSED
    if permission == "revoked":
        return False, KeyPermission.UNKNOWN
    if permission == "unknown":
        return None, KeyPermission.UNKNOWN
    raise ValueError(f"unknown channel permission {permission!r} in a version 1 state")


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
