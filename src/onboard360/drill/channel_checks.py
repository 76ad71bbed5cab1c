"""What one channel must look like at the end of a drill, per kind of onboarding.

``SeenChannel`` gathers what each witness says (the sandbox, the service, the product);
``CHECKS`` names, per kind (permitted, revoked, revoked early, denied), the check whose
problems verdict.py lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SeenChannel:
    """What each witness says about one channel."""

    cid: str
    kind: str
    gens: int
    allowed_extra: int
    api_status: str
    api_sha: str | None
    webhook_url: str | None
    product: dict[str, Any]
    product_check: str | None
    service: dict[str, Any] | None

    @property
    def activated(self) -> int:
        return len(self.product.get("activated_ids", []))


def agreement(seen: SeenChannel, status: str, permitted: bool) -> list[str]:
    """The service, the sandbox and the drill's own plan tell the same story."""
    said = []
    if seen.service is None:
        said.append("unknown to the service")
    elif seen.service["status"] != status:
        said.append(f"service says {seen.service['status']}, 360dialog says {status}")
    if seen.kind == "unknown":
        said.append("not created by any completed onboarding")
    elif (seen.kind == "permitted") != permitted:
        said.append(f"expected {seen.kind}, yet the sandbox says permitted={permitted}")
    return said


def one_key(seen: SeenChannel) -> list[str]:
    """One generation (plus one per crash of its key job), handed to the product once."""
    said = []
    if seen.gens == 0:
        said.append("no key was ever generated")
    elif seen.gens > 1 + seen.allowed_extra:
        said.append(
            f"{seen.gens} key generations (1 expected, {seen.allowed_extra} crash(es) of its job)"
        )
    if seen.activated != 1:
        said.append(f"the product got {seen.activated} distinct channel.activated")
    return said


def at_most_one_key(seen: SeenChannel) -> list[str]:
    """Revoked early: the key job may or may not have reached 360dialog, or committed."""
    said = []
    if seen.gens > 1 + seen.allowed_extra:
        said.append(
            f"{seen.gens} key generations (≤ 1 expected, {seen.allowed_extra} crash(es) of its job)"
        )
    if seen.activated > min(1, seen.gens):
        said.append(f"the product got {seen.activated} channel.activated for {seen.gens} keys")
    return said


def permitted(seen: SeenChannel, inbound_url: str) -> list[str]:
    said = []
    if seen.api_status != "ok":
        said.append(f"its stored key does not work: {seen.api_status}")
    elif seen.webhook_url != inbound_url:
        said.append(f"messaging webhook at 360dialog is {seen.webhook_url!r}")
    if seen.product.get("key_sha") != seen.api_sha:
        said.append("the product holds another key than the service hands out")
    if seen.product_check != "ok":
        said.append(f"the product's key check: {seen.product_check}")
    return said


def revoked(seen: SeenChannel, _inbound_url: str) -> list[str]:
    said = []
    if seen.api_status != "http_409":
        said.append(f"revoked, yet the key API answered {seen.api_status}")
    if not seen.product.get("events", {}).get("channel.permission_revoked"):
        said.append("the product was not told channel.permission_revoked")
    if seen.service is not None and seen.service["permission"] != "revoked":
        said.append(f"service permission is {seen.service['permission']}")
    return said


def denied(seen: SeenChannel, _inbound_url: str) -> list[str]:
    said = []
    if seen.gens:
        said.append(f"{seen.gens} key generation(s) without permission")
    if seen.api_status != "http_409" or seen.activated:
        said.append(f"denied, yet key API {seen.api_status}, {seen.activated} activations")
    if seen.service is not None and seen.service["permission"] != "refused":
        said.append(f"service permission is {seen.service['permission']}")
    return said


CHECKS = {
    "permitted": permitted,
    "revoked": revoked,
    "revoked_early": revoked,
    "denied": denied,
}
