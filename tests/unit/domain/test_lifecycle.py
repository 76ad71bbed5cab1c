"""Examples of the channel lifecycle, one behaviour per test."""

from __future__ import annotations

from typing import Any

import pytest

from onboard360.domain import (
    Billing,
    ChannelId,
    ChannelSnapshot,
    ChannelState,
    ClientId,
    DiscardKey,
    Entitlement,
    Input,
    KeyBlocker,
    KeyPermission,
    KeyRefused,
    KeyRotationRequested,
    KeyStatus,
    KeyStored,
    NotifyProduct,
    PartnerEvent,
    Permission,
    PermissionConfirmed,
    ProductEvent,
    ProvisionKey,
    Redirected,
    RedirectResult,
    SnapshotError,
    apply,
    apply_all,
    may_generate_key,
    may_rotate_key,
    parse_event,
)

CH = ChannelId("A1CH")
CL = ClientId("C1CL")


def new(billing: Billing = Billing.PARTNER_PAYMENT) -> ChannelState:
    """A channel onboard360 may key (its own onboarding listed it): the rules below are
    about such channels; test_entitlement.py is about the others."""
    return ChannelState(CH, billing, entitlement=Entitlement.ONBOARDING)


def event(name: str, channel: str = CH, **fields: Any) -> PartnerEvent:
    return parse_event({"event": name, "payload": {"id": channel, "client_id": CL, **fields}})


def grant(sequence: int, channel: ChannelId = CH) -> Redirected:
    return Redirected(RedirectResult(CL, channels=(channel,)), sequence)


def revoke(sequence: int, channel: ChannelId = CH) -> Redirected:
    return Redirected(RedirectResult(CL, revoked=(channel,)), sequence)


def run(state: ChannelState, *items: Input) -> tuple[ChannelState, list[Any]]:
    state, effects = apply_all(state, list(items))
    return state, list(effects)


def notified(effects: list[Any]) -> list[ProductEvent]:
    return [e.event for e in effects if isinstance(e, NotifyProduct)]


def provisions(effects: list[Any]) -> list[ProvisionKey]:
    return [e for e in effects if isinstance(e, ProvisionKey)]


RUNNING = event("channel_running", status="running")


# ---- statuses ----------------------------------------------------------------------------


def test_created_channel_is_not_running_and_may_not_get_a_key() -> None:
    state, effects = run(new(), event("channel_created", status="pending"))
    assert state.status == "pending"
    assert notified(effects) == [ProductEvent.CHANNEL_CREATED]
    verdict = may_generate_key(state)
    assert verdict.blocker is KeyBlocker.NOT_RUNNING
    assert verdict.message == "the channel is not running yet (pending)"


def test_running_before_created_still_ends_running() -> None:
    state, _ = run(new(), RUNNING, event("channel_created", status="pending"))
    assert state.status == "running"


def test_late_ready_never_moves_a_channel_back() -> None:
    state, _ = run(new(), RUNNING, event("channel_ready", status="ready"))
    assert state.status == "running"
    assert state.statuses_seen == {"running", "ready"}


def test_event_name_implies_its_status_when_the_body_has_none() -> None:
    state, _ = run(new(), event("channel_running"))
    assert state.status == "running"


def test_unknown_status_before_running_is_kept_and_never_allows_a_key() -> None:
    state, effects = run(new(), event("channel_created", status="pending_review"), RUNNING)
    assert state.status == "pending_review"
    assert state.statuses_seen == {"pending_review", "running"}
    assert not any(isinstance(e, ProvisionKey) for e in effects)
    assert notified(effects) == [ProductEvent.CHANNEL_CREATED, ProductEvent.CHANNEL_NOT_LIVE]
    verdict = may_generate_key(state)
    assert verdict.blocker is KeyBlocker.NOT_RUNNING
    assert "'pending_review', a status onboard360 does not know" in verdict.message


def test_a_running_channel_reported_suspended_is_told_not_live_and_keeps_its_key() -> None:
    state, _ = run(new(), RUNNING)
    state, _ = run(state, KeyStored(CH, state.key_intent))
    state, effects = apply(state, ChannelSnapshot(CH, "suspended", CL))
    assert state.status == "suspended"
    assert effects == (state.notify(ProductEvent.CHANNEL_NOT_LIVE),)
    assert state.key is KeyStatus.STORED  # 360dialog decides what happens to it
    assert may_rotate_key(state, state.key_intent).blocker is KeyBlocker.NOT_RUNNING
    # A channel_running beside it may be older: nothing changes, nothing is announced.
    again, effects = run(state, RUNNING, ChannelSnapshot(CH, "running", CL))
    assert (again, effects) == (state, [])


def test_terminated_outranks_an_unknown_status() -> None:
    state, effects = run(
        new(), event("channel_created", status="suspended"), ChannelSnapshot(CH, "terminated", CL)
    )
    assert state.status == "terminated"
    assert ProductEvent.CHANNEL_TERMINATED in notified(effects)


def test_terminated_is_final_and_blocks_keys() -> None:
    state, effects = run(new(), event("channel_created", status="terminated"), RUNNING)
    assert state.status == "terminated"
    assert ProductEvent.CHANNEL_TERMINATED in notified(effects)
    assert provisions(effects) == []
    assert may_generate_key(state).blocker is KeyBlocker.TERMINATED


def test_snapshot_from_the_partner_api_moves_the_channel() -> None:
    snapshot = ChannelSnapshot.from_api(
        {"id": CH, "client_id": CL, "status": "running", "setup_info": {"phone_number": "+4917"}}
    )
    state, effects = run(new(), snapshot)
    assert state.status == "running"
    assert state.phone_number == "+4917"
    assert state.client_id == CL
    assert provisions(effects) == [ProvisionKey(CH, 1)]


def test_snapshot_with_terminated_at_is_terminated() -> None:
    snapshot = ChannelSnapshot.from_api({"id": CH, "status": "running", "terminated_at": "2026"})
    assert snapshot.status == "terminated"


@pytest.mark.parametrize(
    "channel",
    [{}, {"id": "bad id"}, {"id": CH, "client_id": "x;y"}, {"id": CH, "status": ["x"]}, [CH]],
)
def test_unusable_snapshot_is_refused(channel: Any) -> None:
    with pytest.raises(SnapshotError):
        ChannelSnapshot.from_api(channel)


def test_input_about_another_channel_changes_nothing() -> None:
    state = new()
    other = ChannelId("OTHER")
    for item in (event("channel_running", other), grant(1, other), KeyStored(other, 1)):
        assert apply(state, item) == (state, ())


def test_client_created_is_not_a_channel_input() -> None:
    body = {"event": "client_created", "payload": {"id": CL}}
    assert apply(new(), parse_event(body)) == (new(), ())


def test_unknown_event_for_the_channel_only_announces_it() -> None:
    body = {"event": "channel_renamed", "payload": {"channel_id": CH, "status": "running"}}
    state, effects = run(new(), parse_event(body))
    assert notified(effects) == [ProductEvent.CHANNEL_CREATED]
    assert state.status is None


# ---- Partner Payment ---------------------------------------------------------------------


def test_partner_payment_running_channel_gets_exactly_one_key_request() -> None:
    state, effects = run(new(), event("channel_created"), RUNNING, RUNNING)
    assert provisions(effects) == [ProvisionKey(CH, 1)]
    assert state.key is KeyStatus.PROVISIONING
    assert may_generate_key(state).blocker is KeyBlocker.PROVISIONING


def test_stored_key_activates_the_channel_once() -> None:
    state, effects = run(new(), RUNNING, KeyStored(CH, 1), KeyStored(CH, 1))
    assert state.key is KeyStatus.STORED
    assert notified(effects).count(ProductEvent.CHANNEL_ACTIVATED) == 1
    assert may_generate_key(state).blocker is KeyBlocker.HAS_KEY


def test_key_outcome_for_a_stale_intent_changes_nothing() -> None:
    state, _ = run(new(), RUNNING)
    assert apply(state, KeyStored(CH, 7)) == (state, ())
    assert apply(state, KeyRefused(CH, 0)) == (state, ())


def test_refusal_blocks_until_permission_is_confirmed() -> None:
    state, effects = run(new(), RUNNING, KeyRefused(CH, 1))
    assert state.permission is Permission.REFUSED
    assert ProductEvent.PERMISSION_REFUSED in notified(effects)
    assert may_generate_key(state).blocker is KeyBlocker.WAITING_FOR_PERMISSION
    state, effects = run(state, PermissionConfirmed(CH, 1))
    assert provisions(effects) == [ProvisionKey(CH, 2)]


# ---- Direct Payment ----------------------------------------------------------------------


def test_direct_payment_waits_for_the_client_to_share_the_channel() -> None:
    state, effects = run(new(Billing.DIRECT_PAYMENT), RUNNING)
    assert provisions(effects) == []
    verdict = may_generate_key(state)
    assert verdict.blocker is KeyBlocker.WAITING_FOR_PERMISSION
    assert "Direct Payment" in verdict.message


def test_direct_payment_redirect_before_running_provisions_when_running() -> None:
    state, effects = run(new(Billing.DIRECT_PAYMENT), grant(1))
    assert provisions(effects) == []
    assert may_generate_key(state).blocker is KeyBlocker.NOT_RUNNING
    state, effects = run(state, RUNNING)
    assert provisions(effects) == [ProvisionKey(CH, 1)]


def test_direct_payment_refused_key_is_retried_after_a_new_redirect() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1), KeyRefused(CH, 1))
    verdict = may_generate_key(state)
    assert verdict.blocker is KeyBlocker.WAITING_FOR_PERMISSION
    assert "API-key permission" in verdict.message
    assert "popup" in verdict.message
    # The button's second callback for the same popup opening changes nothing ...
    assert apply(state, grant(1)) == (state, ())
    # ... a new popup opening where the client shares the number again does.
    state, effects = run(state, grant(2))
    assert provisions(effects) == [ProvisionKey(CH, 2)]
    assert notified(effects) == [ProductEvent.CHANNEL_SHARED]
    assert state.key_permission is KeyPermission.UNKNOWN


def test_direct_payment_redirect_shares_the_number_but_grants_no_key_permission() -> None:
    state, effects = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1))
    assert notified(effects) == [
        ProductEvent.CHANNEL_CREATED,
        ProductEvent.CHANNEL_RUNNING,
        ProductEvent.CHANNEL_SHARED,
    ]
    assert (state.shared, state.key_permission) == (True, KeyPermission.UNKNOWN)
    assert state.permission is Permission.SHARED
    # Only the key attempt tells whether the client granted API-key permission.
    assert provisions(effects) == [ProvisionKey(CH, 1)]


def test_direct_payment_denied_permission_is_refused_never_granted() -> None:
    state, effects = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1), KeyRefused(CH, 1))
    assert ProductEvent.PERMISSION_GRANTED not in notified(effects)
    assert notified(effects)[-1] is ProductEvent.PERMISSION_REFUSED
    assert (state.shared, state.key_permission) == (True, KeyPermission.REFUSED)
    assert state.permission is Permission.REFUSED


def test_direct_payment_generated_key_proves_api_key_permission() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1))
    state, effects = run(state, KeyStored(CH, 1))
    assert notified(effects) == [ProductEvent.PERMISSION_GRANTED, ProductEvent.CHANNEL_ACTIVATED]
    assert state.key_permission is KeyPermission.GRANTED
    assert state.permission is Permission.GRANTED
    # A rotated key proves nothing new.
    state, _ = run(state, KeyRotationRequested(CH, 1))
    state, effects = run(state, KeyStored(CH, 2))
    assert notified(effects) == [ProductEvent.KEY_ROTATED]


def test_direct_payment_granted_later_in_the_popup_notifies_shared_then_granted() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1), KeyRefused(CH, 1))
    state, effects = run(state, grant(2), KeyStored(CH, 2))
    assert notified(effects) == [
        ProductEvent.CHANNEL_SHARED,
        ProductEvent.PERMISSION_GRANTED,
        ProductEvent.CHANNEL_ACTIVATED,
    ]


def test_direct_payment_relisting_a_live_number_notifies_nothing() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1), KeyStored(CH, 1))
    state, effects = run(state, grant(2))
    assert effects == []
    assert state.permission_sequence == 2


def test_direct_payment_unsharing_takes_api_key_permission_with_it() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1), KeyStored(CH, 1))
    state, effects = run(state, revoke(2))
    assert notified(effects) == [ProductEvent.PERMISSION_REVOKED]
    assert (state.shared, state.key_permission) == (False, KeyPermission.REVOKED)
    assert may_generate_key(state).blocker is KeyBlocker.PERMISSION_REVOKED
    # Shared again: one new attempt, which tells whether permission came back too.
    state, effects = run(state, grant(3))
    assert notified(effects) == [ProductEvent.CHANNEL_SHARED]
    assert provisions(effects) == [ProvisionKey(CH, 2)]
    assert state.key_permission is KeyPermission.UNKNOWN


def test_direct_payment_operator_confirmation_grants_api_key_permission() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1), KeyRefused(CH, 1))
    state, effects = run(state, PermissionConfirmed(CH, 2))
    assert notified(effects) == [ProductEvent.PERMISSION_GRANTED]
    assert provisions(effects) == [ProvisionKey(CH, 2)]
    state, effects = run(state, KeyStored(CH, 2))
    assert notified(effects) == [ProductEvent.CHANNEL_ACTIVATED]


def test_direct_payment_confirmation_before_any_redirect_shares_and_grants() -> None:
    state, effects = run(new(Billing.DIRECT_PAYMENT), RUNNING, PermissionConfirmed(CH, 1))
    assert ProductEvent.CHANNEL_SHARED in notified(effects)
    assert ProductEvent.PERMISSION_GRANTED in notified(effects)
    assert (state.shared, state.key_permission) == (True, KeyPermission.GRANTED)
    assert provisions(effects) == [ProvisionKey(CH, 1)]


# A key job for intent 1 is in flight when the client goes back to the popup and grants
# API-key permission: 360dialog's refusal may predate that visit.


def test_direct_payment_refusal_from_before_a_newer_redirect_is_tried_once_more() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1))
    state, effects = run(state, grant(2))
    assert effects == []  # intent 1 is still in flight
    state, effects = run(state, KeyRefused(CH, 1))
    assert effects == [ProvisionKey(CH, 2)]
    assert (state.shared, state.key_permission) == (True, KeyPermission.UNKNOWN)
    assert state.permission is Permission.SHARED
    assert may_generate_key(state).blocker is KeyBlocker.PROVISIONING
    state, effects = run(state, KeyStored(CH, 2))
    assert notified(effects) == [ProductEvent.PERMISSION_GRANTED, ProductEvent.CHANNEL_ACTIVATED]


def test_direct_payment_refusal_of_the_attempt_after_the_newest_redirect_counts() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1), grant(2), KeyRefused(CH, 1))
    state, effects = run(state, KeyRefused(CH, 2))
    assert effects == [state.notify(ProductEvent.PERMISSION_REFUSED)]
    assert state.key_permission is KeyPermission.REFUSED
    assert may_generate_key(state).blocker is KeyBlocker.WAITING_FOR_PERMISSION


def test_direct_payment_refusal_from_before_a_confirmation_keeps_it_granted() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1))
    state, effects = run(state, PermissionConfirmed(CH, 2))
    assert notified(effects) == [ProductEvent.PERMISSION_GRANTED]
    state, effects = run(state, KeyRefused(CH, 1))
    assert effects == [ProvisionKey(CH, 2)]
    assert state.key_permission is KeyPermission.GRANTED


def test_direct_payment_refusal_before_or_after_a_newer_redirect_ends_the_same() -> None:
    start, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1))
    early, _ = run(start, KeyRefused(CH, 1), grant(2))
    late, _ = run(start, grant(2), KeyRefused(CH, 1))
    assert late == early


def test_direct_payment_key_stored_after_a_newer_revoke_is_discarded_unannounced() -> None:
    state, _ = run(new(Billing.DIRECT_PAYMENT), RUNNING, grant(1))
    state, effects = run(state, revoke(2))
    assert effects == [state.notify(ProductEvent.PERMISSION_REVOKED), DiscardKey(CH, 1)]
    state, effects = run(state, KeyStored(CH, 1))
    assert effects == []
    assert (state.key, state.key_permission) == (KeyStatus.NONE, KeyPermission.UNKNOWN)
    assert may_generate_key(state).blocker is KeyBlocker.PERMISSION_REVOKED
    # Shared again: a new intent; the late answer to the discarded one still counts for nothing.
    state, effects = run(state, grant(3), KeyStored(CH, 1))
    assert provisions(effects) == [ProvisionKey(CH, 2)]
    assert ProductEvent.CHANNEL_ACTIVATED not in notified(effects)
    assert state.key is KeyStatus.PROVISIONING


# ---- permission --------------------------------------------------------------------------


def test_revoked_channel_may_not_get_a_key_and_its_key_is_discarded() -> None:
    state, _ = run(new(), RUNNING, KeyStored(CH, 1))
    state, effects = run(state, revoke(1))
    assert state.permission is Permission.REVOKED
    assert state.key is KeyStatus.NONE
    assert ProductEvent.PERMISSION_REVOKED in notified(effects)
    assert DiscardKey(CH, 1) in effects
    assert may_generate_key(state).blocker is KeyBlocker.PERMISSION_REVOKED


def test_revoke_while_provisioning_discards_the_key_in_flight() -> None:
    state, effects = run(new(), RUNNING, revoke(1))
    assert DiscardKey(CH, 1) in effects
    state, effects = run(state, KeyStored(CH, 1))
    assert state.key is KeyStatus.NONE
    assert effects == []


def test_partner_payment_redirect_shares_and_needs_no_key_permission() -> None:
    state, effects = run(new(), grant(1), RUNNING, KeyStored(CH, 1))
    assert ProductEvent.CHANNEL_SHARED in notified(effects)
    assert ProductEvent.PERMISSION_GRANTED not in notified(effects)
    assert state.key_permission is KeyPermission.UNKNOWN
    assert state.permission is Permission.GRANTED


def test_later_redirect_listing_the_channel_grants_it_again() -> None:
    state, _ = run(new(), RUNNING, KeyStored(CH, 1), revoke(1))
    state, effects = run(state, grant(2))
    assert state.permission is Permission.GRANTED
    assert notified(effects) == [ProductEvent.CHANNEL_SHARED]
    assert provisions(effects) == [ProvisionKey(CH, 2)]
    state, effects = run(state, KeyStored(CH, 2))
    assert notified(effects) == [ProductEvent.CHANNEL_ACTIVATED]


def test_older_redirect_arriving_late_changes_nothing() -> None:
    state, _ = run(new(), RUNNING, revoke(5))
    assert apply(state, grant(4)) == (state, ())


def test_redirect_sets_the_client_when_unknown() -> None:
    state, _ = run(new(), grant(1))
    assert state.client_id == CL


def test_confirmed_permission_older_than_a_revoke_changes_nothing() -> None:
    state, _ = run(new(), revoke(3))
    assert apply(state, PermissionConfirmed(CH, 2)) == (state, ())


# ---- rotation ----------------------------------------------------------------------------


def test_rotation_provisions_one_new_key_per_request() -> None:
    state, _ = run(new(), RUNNING, KeyStored(CH, 1))
    state, effects = run(state, KeyRotationRequested(CH, 1), KeyRotationRequested(CH, 1))
    assert provisions(effects) == [ProvisionKey(CH, 2, rotation=True)]
    state, effects = run(state, KeyStored(CH, 2))
    assert notified(effects) == [ProductEvent.KEY_ROTATED]
    assert state.key is KeyStatus.STORED


def test_rotation_without_a_stored_key_changes_nothing() -> None:
    state, _ = run(new(), RUNNING)
    assert may_rotate_key(state, 1).blocker is KeyBlocker.NO_KEY
    assert apply(state, KeyRotationRequested(CH, 1)) == (state, ())


def test_rotation_of_a_replaced_key_changes_nothing() -> None:
    state, _ = run(new(), RUNNING, KeyStored(CH, 1), KeyRotationRequested(CH, 1), KeyStored(CH, 2))
    assert may_rotate_key(state, 1).blocker is KeyBlocker.NO_KEY
    assert may_rotate_key(state, 2).allowed
    assert apply(state, KeyRotationRequested(CH, 1)) == (state, ())


def test_rotation_after_revoke_is_refused_as_no_key() -> None:
    state, _ = run(new(), RUNNING, KeyStored(CH, 1), revoke(1))
    assert may_rotate_key(state, 1).blocker is KeyBlocker.NO_KEY


def test_rotation_of_a_terminated_channel_changes_nothing() -> None:
    state, _ = run(new(), RUNNING, KeyStored(CH, 1), event("channel_created", status="terminated"))
    assert may_rotate_key(state, 1).blocker is KeyBlocker.TERMINATED
    assert apply(state, KeyRotationRequested(CH, 1)) == (state, ())


# ---- notifications -----------------------------------------------------------------------


def test_milestones_are_notified_once() -> None:
    _, effects = run(new(), *[event("channel_created"), RUNNING] * 3)
    assert notified(effects) == [ProductEvent.CHANNEL_CREATED, ProductEvent.CHANNEL_RUNNING]


def test_each_violation_is_notified_once_matched_by_phone_number() -> None:
    state, _ = run(new(), event("channel_created", phone_number="+49 170 1"))
    spam = parse_event(
        {"event": "account_violation", "phone_number": "49 170 1", "violation_type": "spam"}
    )
    other = parse_event({"event": "account_restriction", "phone_number": "+49170 1"})
    state, effects = run(state, spam, spam, other)
    assert [e.detail for e in effects] == [
        "account_violation:spam",
        "account_restriction:unspecified",
    ]
    assert state.violations == {"account_violation:spam", "account_restriction:unspecified"}


def test_violation_for_another_number_changes_nothing() -> None:
    state, _ = run(new(), event("channel_created", phone_number="+49 170 1"))
    spam = parse_event({"event": "account_violation", "phone_number": "+1 555"})
    assert apply(state, spam) == (state, ())


def test_account_event_status_is_not_the_channel_status() -> None:
    state, _ = run(new(), event("channel_created", phone_number="+4917"))
    body = {"event": "account_violation", "phone_number": "+4917", "status": "running"}
    state, _ = run(state, parse_event(body))
    assert state.status is None


def test_template_messaging_is_the_last_reported() -> None:
    state, effects = run(new(), event("template_messaging_disabled"))
    assert state.template_messaging is False
    state, effects = run(state, event("template_messaging_enabled"))
    assert state.template_messaging is True
    assert effects == []


def test_notifications_name_the_client_and_channel() -> None:
    _, effects = run(new(), event("channel_created"))
    assert effects == [NotifyProduct(ProductEvent.CHANNEL_CREATED, CL, CH)]
