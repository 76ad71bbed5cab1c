"""The sandbox popup over real HTTP, without a browser: steps, validation, hostile input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from onboard360.hub.signatures import io_signature
from onboard360.sandbox.models import Faults, HubSpec
from onboard360.sandbox.state import Sandbox
from tests.integration.popup_http import (
    Popup,
    error_of,
    heading_of,
    onboard,
    parse_redirect,
    unique_email,
)
from tests.sandbox_fixtures import running_sandbox

REDIRECT = "https://partner.example/onboarded?from=360"
SECRET = "s3cret-platform-secret-0123456789"


@dataclass
class World:
    http: httpx.Client
    sandbox: Sandbox

    def popup(self, partner_id: str = "PartnerPA") -> Popup:
        return Popup(self.http, partner_id)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    hubs = [
        HubSpec(partner_id="PartnerPA", redirect_url=REDIRECT, auto_advance=False),
        HubSpec(partner_id="DirectPA", billing="direct", redirect_url=REDIRECT, auto_advance=False),
        HubSpec(
            partner_id="SignedPA",
            redirect_url=REDIRECT,
            platform_secret=SECRET,
            io_signature=True,
            auto_advance=False,
        ),
        HubSpec(partner_id="DownPA", redirect_url=REDIRECT, faults=Faults(outage=True)),
    ]
    sandbox = Sandbox()
    with (
        running_sandbox(hubs, sandbox=sandbox) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        yield World(http, sandbox)


def test_both_popup_paths_render_signup_without_coop(world: World) -> None:
    for path in ("/dashboard/app/PartnerPA", "/dashboard/app/PartnerPA/permissions"):
        response = world.http.get(path)
        assert response.status_code == 200
        assert heading_of(response) == "Create your 360dialog account"
        assert "cross-origin-opener-policy" not in response.headers


def test_partner_payment_redirect_carries_client_channels_and_state(world: World) -> None:
    popup = world.popup()
    opened = popup.open(state="st/ate 1", email="prefill@example.com")
    assert 'value="prefill@example.com"' in opened.text
    email = unique_email("pp")
    response = onboard(
        popup, email=email, numbers=["+4915100000001", "4915100000002"], opened=opened
    )
    assert response.status_code == 303
    location = response.headers["location"]
    redirect = parse_redirect(location)
    assert redirect.base == "https://partner.example/onboarded"
    assert redirect.query.startswith("from=360&client=")
    assert "channels=[" in redirect.query  # brackets literal, no quotes or spaces
    assert redirect.state == "st/ate 1"
    client = world.sandbox.clients[redirect.client]
    assert client.email == email
    assert client.api_key_permission  # Partner Payment manages keys by default
    numbers = sorted(world.sandbox.channels[c].phone_number for c in redirect.channels)
    assert numbers == ["+4915100000001", "+4915100000002"]
    assert redirect.revoked == []


def test_a_hub_set_not_to_echo_state_redirects_without_it(world: World) -> None:
    hub = world.sandbox.hub("PartnerPA")
    switched = world.http.patch("/sandbox/hubs/PartnerPA", json={"echo_state": False})
    assert switched.status_code == 200, switched.text
    assert switched.json()["echo_state"] is False
    try:
        popup = world.popup()
        opened = popup.open(state="kept-by-us")
        response = onboard(
            popup, email=unique_email("noecho"), numbers=["+4915100009901"], opened=opened
        )
    finally:
        hub.echo_state = True
    assert response.status_code == 303
    redirect = parse_redirect(response.headers["location"])
    assert redirect.client in world.sandbox.clients
    assert redirect.state is None
    assert "state=" not in response.headers["location"]


def test_unencoded_plus_in_number_is_prefilled_as_plus(world: World) -> None:
    popup = world.popup()
    popup.open(number=" 4915123400000")
    response = popup.post("account", name="Acme", email=unique_email("plus"))
    assert 'value="+4915123400000"' in response.text


def test_nothing_is_created_before_the_final_step(world: World) -> None:
    clients, channels = len(world.sandbox.clients), len(world.sandbox.channels)
    popup = world.popup("DirectPA")
    popup.open()
    popup.post("account", name="Acme", email=unique_email("none"))
    popup.post("payment", holder="Acme", card_number="4242424242424242", expiry="1/39", cvc="123")
    popup.post("api-key", api_key_permission="grant")
    response = popup.post("numbers", phone_number="+4915100000099", phone_name="Shop")
    assert heading_of(response).startswith("Share numbers")
    assert (len(world.sandbox.clients), len(world.sandbox.channels)) == (clients, channels)
    cancelled = popup.post("cancel")
    assert cancelled.status_code == 200
    assert "Onboarding cancelled" in cancelled.text
    assert popup.post("share", share="new:0").status_code == 400  # the session is gone
    assert (len(world.sandbox.clients), len(world.sandbox.channels)) == (clients, channels)


def test_direct_payment_records_permission_denied(world: World) -> None:
    popup = world.popup("DirectPA")
    response = onboard(
        popup, email=unique_email("deny"), numbers=["+4915100000003"], direct=True, grant=False
    )
    redirect = parse_redirect(response.headers["location"])
    assert world.sandbox.clients[redirect.client].api_key_permission is False


@pytest.mark.parametrize(
    ("card", "expiry", "message"),
    [
        ("4000 0000 0000 0002", "12/39", "declined"),
        ("4242 4242 4242 4241", "12/39", "not valid"),
        ("4242", "12/39", "not valid"),
        ("4242 4242 4242 4242", "13/39", "MM/YY"),
        ("4242 4242 4242 4242", "01/20", "expired"),
        ("4012 8888 8888 1881", "12/39", "only test cards"),
        ("²" * 16, "12/39", "not valid"),
    ],
)
def test_bad_cards_are_refused_with_a_message(
    world: World, card: str, expiry: str, message: str
) -> None:
    popup = world.popup("DirectPA")
    popup.open()
    popup.post("account", name="Acme", email=unique_email("card"))
    response = popup.post("payment", holder="Acme", card_number=card, expiry=expiry, cvc="123")
    assert response.status_code == 422
    assert message in error_of(response)
    assert heading_of(response) == "Prices and payment"


@pytest.mark.parametrize(
    "number", ["12345", "+0049151234567", "+49 151 abc", "+" + "9" * 20, "+٤٩١٥١٢٣٤٥٦٧٨"]
)
def test_bad_phone_numbers_are_refused(world: World, number: str) -> None:
    popup = world.popup()
    popup.open()
    popup.post("account", name="Acme", email=unique_email("phone"))
    response = popup.post("numbers", phone_number=number)
    assert response.status_code == 422
    assert "Number 1" in error_of(response)


def test_a_number_of_another_client_is_refused(world: World) -> None:
    onboard(world.popup(), email=unique_email("first"), numbers=["+4915100000010"])
    popup = world.popup()
    popup.open()
    popup.post("account", name="Other", email=unique_email("second"))
    response = popup.post("numbers", phone_number="+4915100000010")
    assert "another account" in error_of(response)


def test_signup_with_a_known_email_and_login_with_an_unknown_one(world: World) -> None:
    email = unique_email("known")
    onboard(world.popup(), email=email, numbers=["+4915100000011"])
    popup = world.popup()
    popup.open()
    assert "log in instead" in error_of(popup.post("account", name="Again", email=email))
    popup = world.popup()
    popup.open(next="login")
    response = popup.post("account", email=unique_email("unknown"))
    assert "no account with this email" in error_of(response)


def test_returning_client_revokes_a_number_and_adds_another(world: World) -> None:
    email = unique_email("return")
    first = onboard(world.popup(), email=email, numbers=["+4915100000020", "+4915100000021"])
    old = parse_redirect(first.headers["location"]).channels
    by_number = {world.sandbox.channels[c].phone_number: c for c in old}
    keep = by_number["+4915100000020"]
    revoke = by_number["+4915100000021"]
    response = onboard(
        world.popup(),
        email=email,
        login=True,
        numbers=["+4915100000022"],
        share=[f"channel:{keep}", "new:0"],
    )
    redirect = parse_redirect(response.headers["location"])
    assert redirect.client == parse_redirect(first.headers["location"]).client
    assert redirect.revoked == [revoke]
    assert redirect.channels[0] == keep
    assert len(redirect.channels) == 2
    assert f"revoked=[{revoke}]" in redirect.query
    assert world.sandbox.channels[revoke].shared is False


def test_returning_direct_client_changes_api_key_permission(world: World) -> None:
    email = unique_email("perm")
    first = onboard(world.popup("DirectPA"), email=email, numbers=["+4915100000030"], direct=True)
    client_id = parse_redirect(first.headers["location"]).client
    onboard(world.popup("DirectPA"), email=email, numbers=[], direct=True, grant=False, login=True)
    assert world.sandbox.clients[client_id].api_key_permission is False


def test_unknown_partner_gets_a_404_page(world: World) -> None:
    response = world.http.get("/dashboard/app/NoSuchPA")
    assert response.status_code == 404
    assert "no partner hub" in error_of(response)
    assert response.headers["content-type"].startswith("text/html")


def test_outage_gets_a_503_page(world: World) -> None:
    assert world.http.get("/dashboard/app/DownPA").status_code == 503


@pytest.mark.parametrize(
    ("offset", "signature", "message"),
    [
        (0, None, "without an IO Signature"),
        (0, "0" * 64, "does not match"),
        (-3600, "valid", "expired"),
    ],
)
def test_io_signature_problems_get_a_403_page(
    world: World, offset: int, signature: str | None, message: str
) -> None:
    moment = int(time.time()) + offset
    params = {"io_timestamp": str(moment)}
    if signature:
        valid = io_signature(SECRET, "SignedPA", moment)
        params["io_signature"] = valid if signature == "valid" else signature
    response = world.popup("SignedPA").open(**params)
    assert response.status_code == 403
    assert message in error_of(response)
    assert 'name="session"' not in response.text


@pytest.mark.parametrize("timestamp", ["²", "١٧٠٠٠٠٠٠٠٠", "-1", "12.5"])
def test_io_timestamp_that_is_no_unix_timestamp_gets_a_403_page(
    world: World, timestamp: str
) -> None:
    response = world.popup("SignedPA").open(io_timestamp=timestamp, io_signature="0" * 64)
    assert response.status_code == 403
    assert "not a unix timestamp" in error_of(response)


def test_valid_io_signature_opens_the_popup(world: World) -> None:
    moment = int(time.time())
    popup = world.popup("SignedPA")
    opened = popup.open(
        io_timestamp=str(moment), io_signature=io_signature(SECRET, "SignedPA", moment)
    )
    response = onboard(
        popup, email=unique_email("signed"), numbers=["+4915100000040"], opened=opened
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    "redirect_url",
    ["https://evil.example/x", "http://partner.example/onboarded", "https://partner.example:444/"],
)
def test_foreign_redirect_url_is_refused(world: World, redirect_url: str) -> None:
    response = world.popup().open(redirect_url=redirect_url)
    assert response.status_code == 400
    assert "redirect_url must be an address on https://partner.example" in error_of(response)


def test_same_origin_redirect_url_is_honoured(world: World) -> None:
    popup = world.popup()
    opened = popup.open(redirect_url="https://partner.example/other/page")
    response = onboard(
        popup, email=unique_email("redir"), numbers=["+4915100000050"], opened=opened
    )
    assert response.headers["location"].startswith("https://partner.example/other/page?client=")


def test_oversized_input_is_refused(world: World) -> None:
    assert world.popup().open(state="x" * 5000).status_code == 400
    popup = world.popup()
    popup.open()
    response = popup.post("account", name="A" * 5000, email=unique_email("big"))
    assert response.status_code == 422
    assert "longer than" in error_of(response)
    assert "AAAA" not in response.text
    huge = popup.post("account", name="A" * 100_000, email="x@example.com")
    assert huge.status_code == 413


@pytest.mark.parametrize("session", ["", "short", "x" * 40, "../../etc/passwd"])
def test_bad_session_id_gets_an_error_page(world: World, session: str) -> None:
    response = world.http.post(
        "/dashboard/app/PartnerPA/account", data={"session": session, "name": "A"}
    )
    assert response.status_code == 400
    assert heading_of(response) == "This popup has expired"


def test_steps_must_come_in_order(world: World) -> None:
    popup = world.popup()
    popup.open()
    response = popup.post("share", share="new:0")
    assert response.status_code == 409


@pytest.mark.parametrize("ticked", ["new:²", "new:-1", "new:7", "other:0"])
def test_share_form_naming_an_unoffered_number_is_refused(world: World, ticked: str) -> None:
    popup = world.popup()
    popup.open()
    popup.post("account", name="Acme", email=unique_email("tick"))
    popup.post("numbers", phone_number="+4915100000070")
    response = popup.post("share", share=[ticked])
    assert response.status_code == 422
    assert "did not offer" in error_of(response)


def test_share_form_naming_an_unoffered_channel_is_refused(world: World) -> None:
    other = onboard(world.popup(), email=unique_email("victim"), numbers=["+4915100000060"])
    victim_channel = parse_redirect(other.headers["location"]).channels[0]
    popup = world.popup()
    popup.open()
    popup.post("account", name="Thief", email=unique_email("thief"))
    popup.post("numbers", phone_number="+4915100000061")
    response = popup.post("share", share=["new:0", f"channel:{victim_channel}"])
    assert response.status_code == 422
    assert world.sandbox.channels[victim_channel].shared is True
