"""docs/events.md documents every ProductEvent, and only those, with an example built
like the real payload: the same fields with the same JSON types (no I/O)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from onboard360.config.hubs import HubConfig
from onboard360.domain import (
    Billing,
    ChannelId,
    ChannelState,
    ClientId,
    KeyPermission,
    KeyStatus,
    NotifyProduct,
    OnboardingFacts,
    ProductEvent,
)
from onboard360.handoff import event_body
from onboard360.jobs.effects import product_payload

CATALOGUE = Path(__file__).parents[2] / "docs" / "events.md"
SECTION = re.compile(r"^### `([a-z_.]+)`\n(.*?)```json\n(.*?)\n```", re.M | re.S)

HUB = HubConfig(
    name="main",
    partner_id="abcDEF12PA",
    api_key=SecretStr("k" * 30),
    webhook_secret=SecretStr("w" * 30),
)
CHANNEL = ChannelState(
    ChannelId("Xy9CHannelCH"), Billing.PARTNER_PAYMENT, ClientId("AbC1ClientCL"), "+4915112345678"
)
STORED = {"key": KeyStatus.STORED, "key_intent": 1}
GRANTED = {"shared": True, "key_permission": KeyPermission.GRANTED}
# The channel as it is when each event is sent.
WHEN_SENT: dict[ProductEvent, dict[str, Any]] = {
    ProductEvent.CHANNEL_CREATED: {"status": "pending", **GRANTED},
    ProductEvent.CHANNEL_RUNNING: {
        "status": "running",
        **GRANTED,
        "key": KeyStatus.PROVISIONING,
        "key_intent": 1,
    },
    ProductEvent.CHANNEL_ACTIVATED: {"status": "running", **GRANTED, **STORED},
    ProductEvent.KEY_ROTATED: {"status": "running", **GRANTED, **STORED},
    ProductEvent.PERMISSION_GRANTED: {
        "status": "running",
        **GRANTED,
        "key": KeyStatus.PROVISIONING,
        "key_intent": 1,
    },
    ProductEvent.CHANNEL_SHARED: {"status": "pending", "shared": True},
    ProductEvent.PERMISSION_REFUSED: {
        "status": "running",
        "shared": True,
        "key_permission": KeyPermission.REFUSED,
    },
    ProductEvent.PERMISSION_REVOKED: {
        "status": "running",
        "shared": False,
        "key_permission": KeyPermission.REVOKED,
    },
    ProductEvent.CHANNEL_VIOLATION: {"status": "running", **GRANTED, **STORED},
    ProductEvent.CHANNEL_NOT_LIVE: {"status": "suspended", **GRANTED, **STORED},
    ProductEvent.CHANNEL_TERMINATED: {"status": "terminated", **GRANTED},
    ProductEvent.KEY_NOT_WORKING: {
        "status": "running",
        **GRANTED,
        **STORED,
        "key_refused_intent": 1,
        "key_losses": 1,
    },
    ProductEvent.KEY_WORKING: {"status": "running", **GRANTED, **STORED, "key_losses": 1},
}


ATTEMPT = "0b6f3c1e-7d2a-4e55-9a1b-2f0c8d9e4a10"
# The onboarding events, as web/onboardings.py builds them.
ONBOARDING: dict[ProductEvent, NotifyProduct] = {
    ProductEvent.ONBOARDING_STARTED: NotifyProduct(
        ProductEvent.ONBOARDING_STARTED,
        onboarding=OnboardingFacts(
            ATTEMPT, "crm-user-42", expires_at=datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
        ),
    ),
    ProductEvent.ONBOARDING_COMPLETED: NotifyProduct(
        ProductEvent.ONBOARDING_COMPLETED,
        client_id=ClientId("AbC1ClientCL"),
        onboarding=OnboardingFacts(ATTEMPT, "crm-user-42", channels=(CHANNEL.channel_id,)),
    ),
    ProductEvent.ONBOARDING_ABANDONED: NotifyProduct(
        ProductEvent.ONBOARDING_ABANDONED,
        client_id=ClientId("AbC1ClientCL"),
        channel_id=CHANNEL.channel_id,
        onboarding=OnboardingFacts(
            ATTEMPT,
            "crm-user-42",
            step="running",
            blocker="waiting_for_permission",
            reason="waiting for the client's API-key permission",
        ),
    ),
}


def documented() -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(example) for name, _, example in SECTION.findall(CATALOGUE.read_text())
    }


def real_body(event: ProductEvent) -> dict[str, Any]:
    state: ChannelState | None = None
    if event in ONBOARDING:
        effect = ONBOARDING[event]
    elif event is ProductEvent.CLIENT_CREATED:
        effect = NotifyProduct(event, client_id=ClientId("AbC1ClientCL"))
    elif event is ProductEvent.CLIENT_CLAIMED:
        effect = NotifyProduct(event, client_id=ClientId("AbC1ClientCL"), detail="crm-user-42")
    else:
        state = replace(CHANNEL, **WHEN_SENT[event])
        detail = "account_violation:scam" if event is ProductEvent.CHANNEL_VIOLATION else None
        effect = state.notify(event, detail)
    payload = product_payload(HUB, effect, state)
    occurred = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    body: dict[str, Any] = json.loads(event_body(event.value, payload, occurred))
    return body


def shape(value: Any) -> Any:
    """The JSON type of every field, nested (a list: the types of its items)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted({str(shape(item)) for item in value})
    return type(value).__name__


def test_every_product_event_and_only_those_is_documented() -> None:
    names = [name for name, _, _ in SECTION.findall(CATALOGUE.read_text())]
    assert len(names) == len(set(names))
    assert set(names) == {event.value for event in ProductEvent}


@pytest.mark.parametrize("event", list(ProductEvent), ids=str)
def test_the_example_has_the_real_payloads_fields_and_types(event: ProductEvent) -> None:
    example = documented()[event.value]
    real = real_body(event)
    assert example["type"] == event.value
    assert shape(example) == shape(real)


@pytest.mark.parametrize("event", list(ProductEvent), ids=str)
def test_each_event_says_when_it_is_sent(event: ProductEvent) -> None:
    sections = {name: prose for name, prose, _ in SECTION.findall(CATALOGUE.read_text())}
    assert len(sections[event.value].strip()) > 40


def test_no_example_carries_an_api_key() -> None:
    for example in documented().values():
        assert not {key for key in example["data"] if key in {"api_key", "key"}}
