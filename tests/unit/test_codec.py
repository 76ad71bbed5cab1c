"""The channel state's JSON: what is written reads back, and rows written before still decode."""

from __future__ import annotations

from typing import Any

import pytest

from onboard360.db import codec
from onboard360.domain import (
    Billing,
    ChannelId,
    ChannelState,
    ClientId,
    Entitlement,
    KeyBlocker,
    KeyPermission,
    KeyRefused,
    KeyStatus,
    Permission,
    ProductEvent,
    apply,
    may_generate_key,
)

CH = ChannelId("A1CH")


def v1_row(billing: str, permission: str, sequence: int, key: str = "none", **more: Any) -> dict:
    """A channel state as version 1 wrote it (one `permission` field)."""
    return {
        "v": 1,
        "channel_id": CH,
        "billing": billing,
        "client_id": "C1CL",
        "phone_number": "+4917",
        "status": "running",
        "statuses_seen": ["running"],
        "permission": permission,
        "permission_sequence": sequence,
        "key": key,
        "key_intent": 1 if key != "none" else 0,
        "announced": ["channel.created", "channel.running"],
        "violations": [],
        **more,
    }


def test_state_reads_back_as_written() -> None:
    state = ChannelState(
        CH,
        Billing.DIRECT_PAYMENT,
        client_id=ClientId("C1CL"),
        status="running",
        statuses_seen=frozenset({"running"}),
        shared=True,
        key_permission=KeyPermission.REFUSED,
        permission_sequence=3,
        key_intent=2,
        key_intent_sequence=1,
        announced=frozenset({ProductEvent.CHANNEL_CREATED}),
        entitlement=Entitlement.CLAIMED,
    )
    written = codec.channel_to_json(state)
    assert written["v"] == 3
    assert written["entitlement"] == "claimed"
    assert written["key_intent_sequence"] == 1
    assert (written["shared"], written["key_permission"]) == (True, "refused")
    assert "permission" not in written
    assert codec.channel_from_json(written) == state


@pytest.mark.parametrize(
    ("row", "shared", "key_permission", "permission", "blocker"),
    [
        # Partner Payment, nothing heard but webhooks: someone else's channel (no key ever
        # generated, no redirect applied), so no key may be generated.
        (
            v1_row("partner", "unknown", 0),
            None,
            KeyPermission.UNKNOWN,
            Permission.UNKNOWN,
            KeyBlocker.NOT_ENTITLED,
        ),
        (v1_row("partner", "granted", 1), True, KeyPermission.UNKNOWN, Permission.GRANTED, None),
        # Direct Payment: a redirect alone never proved API-key permission ...
        (
            v1_row("direct", "granted", 2, "provisioning"),
            True,
            KeyPermission.UNKNOWN,
            Permission.SHARED,
            KeyBlocker.PROVISIONING,
        ),
        # ... a generated key did.
        (
            v1_row("direct", "granted", 2, "stored"),
            True,
            KeyPermission.GRANTED,
            Permission.GRANTED,
            KeyBlocker.HAS_KEY,
        ),
        (
            v1_row("direct", "granted", 2, "provisioning", key_rotating=True),
            True,
            KeyPermission.GRANTED,
            Permission.GRANTED,
            KeyBlocker.PROVISIONING,
        ),
        (
            v1_row("direct", "refused", 4),
            True,
            KeyPermission.REFUSED,
            Permission.REFUSED,
            KeyBlocker.WAITING_FOR_PERMISSION,
        ),
        (
            v1_row("partner", "refused", 0, key_intent=1),
            None,
            KeyPermission.REFUSED,
            Permission.REFUSED,
            KeyBlocker.WAITING_FOR_PERMISSION,
        ),
        (
            v1_row("direct", "revoked", 5),
            False,
            KeyPermission.UNKNOWN,
            Permission.REVOKED,
            KeyBlocker.PERMISSION_REVOKED,
        ),
    ],
)
def test_version_1_rows_decode_into_both_facts(
    row: dict,
    shared: bool | None,
    key_permission: KeyPermission,
    permission: Permission,
    blocker: KeyBlocker | None,
) -> None:
    state = codec.channel_from_json(row)
    assert (state.shared, state.key_permission) == (shared, key_permission)
    # The key verdict stays what it was; a Direct Payment number whose key was never
    # generated now reads `shared`, not `granted`.
    assert state.permission is permission
    assert may_generate_key(state).blocker is blocker
    assert state.permission_sequence == row["permission_sequence"]
    assert state.key_intent_sequence == row["permission_sequence"]
    assert state.key is KeyStatus(row["key"])


def test_version_1_row_with_an_unknown_permission_is_refused() -> None:
    with pytest.raises(ValueError, match="'maybe'"):
        codec.channel_from_json(v1_row("direct", "maybe", 1))


def test_row_written_before_key_intent_sequence_keeps_its_refusal() -> None:
    # Version 2 rows from before the field: the intent in flight counts as asked at the
    # newest redirect, so its refusal is a refusal, as when the row was written.
    state = ChannelState(
        CH,
        Billing.DIRECT_PAYMENT,
        status="running",
        shared=True,
        permission_sequence=3,
        key=KeyStatus.PROVISIONING,
        key_intent=1,
        key_intent_sequence=3,
    )
    row = codec.channel_to_json(state)
    del row["key_intent_sequence"]
    decoded = codec.channel_from_json(row)
    assert decoded == state
    after, _ = apply(decoded, KeyRefused(CH, 1))
    assert after.key_permission is KeyPermission.REFUSED


@pytest.mark.parametrize(
    ("more", "entitlement"),
    [
        # Only webhooks or sync saw it: someone else's, never keyed on its own.
        ({}, None),
        # A redirect or an operator's confirmation was applied.
        ({"permission_sequence": 2, "shared": True}, Entitlement.ONBOARDING),
        ({"permission_sequence": 3, "shared": False}, Entitlement.ONBOARDING),
        # onboard360 generated a key: the one held elsewhere, if any, is dead already.
        ({"key": "stored", "key_intent": 1}, Entitlement.ONBOARDING),
    ],
)
def test_version_2_rows_decode_their_entitlement_from_what_they_prove(
    more: dict[str, Any], entitlement: Entitlement | None
) -> None:
    row = {**v1_row("partner", "unknown", 0), "v": 2, "shared": None, "key_permission": "unknown"}
    row.pop("permission")
    state = codec.channel_from_json({**row, **more})
    assert state.entitlement is entitlement
