"""The two permission facts, and the one word the column and the API show for them."""

from __future__ import annotations

import pytest

from onboard360.domain import Billing, KeyPermission, Permission
from onboard360.domain.permission import after_redirect, summarize

DP, PP = Billing.DIRECT_PAYMENT, Billing.PARTNER_PAYMENT
K = KeyPermission


@pytest.mark.parametrize(
    ("billing", "shared", "key", "word"),
    [
        (PP, None, K.UNKNOWN, Permission.UNKNOWN),
        (DP, None, K.UNKNOWN, Permission.UNKNOWN),
        (PP, True, K.UNKNOWN, Permission.GRANTED),  # Partner Payment: granted by default
        (DP, True, K.UNKNOWN, Permission.SHARED),  # shared, API-key permission not proven
        (DP, True, K.GRANTED, Permission.GRANTED),
        (DP, True, K.REFUSED, Permission.REFUSED),
        (PP, None, K.REFUSED, Permission.REFUSED),
        (DP, False, K.REVOKED, Permission.REVOKED),
        (DP, False, K.REFUSED, Permission.REVOKED),  # unshared outranks a refusal
    ],
)
def test_one_word_for_both_facts(
    billing: Billing, shared: bool | None, key: KeyPermission, word: Permission
) -> None:
    assert summarize(billing, shared, key) is word


@pytest.mark.parametrize(
    ("listed", "before", "after"),
    [
        (True, K.UNKNOWN, K.UNKNOWN),
        (True, K.GRANTED, K.GRANTED),
        (True, K.REFUSED, K.UNKNOWN),  # the client may have granted it on this visit
        (True, K.REVOKED, K.UNKNOWN),
        (False, K.GRANTED, K.REVOKED),  # unsharing takes a known grant with it
        (False, K.UNKNOWN, K.UNKNOWN),
        (False, K.REFUSED, K.REFUSED),
    ],
)
def test_what_a_redirect_does_to_api_key_permission(
    listed: bool, before: KeyPermission, after: KeyPermission
) -> None:
    assert after_redirect(listed, before) is after
