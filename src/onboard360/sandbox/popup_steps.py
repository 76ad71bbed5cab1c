"""One handler and one page context per popup step.

A handler reads its form into the session (raising ``Invalid`` with what to fix) and returns
True when the step is done, False to show the same page again. It fills ``values`` with what
the page should show again — only values already checked for size. Handlers never change the
``Sandbox``; ``popup_flow.complete`` does, once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import zip_longest
from typing import Any

from starlette.datastructures import FormData

from onboard360.hub import platform as p
from onboard360.sandbox import popup_flow as flow
from onboard360.sandbox import popup_forms as forms
from onboard360.sandbox.entities import Hub
from onboard360.sandbox.state import Sandbox

Handler = Callable[[Sandbox, Hub, flow.PopupSession, FormData, dict[str, Any]], bool]

STEP_LABELS = {
    "account": "Account",
    "payment": "Payment",
    "api-key": "API access",
    "numbers": "WhatsApp numbers",
    "share": "Permissions",
}


def account(
    world: Sandbox, hub: Hub, session: flow.PopupSession, form: FormData, values: dict[str, Any]
) -> bool:
    action = forms.field(form, "action", 20)
    if action in ("show-login", "show-signup"):
        session.login = action == "show-login"
        return False
    values["email"] = forms.field(form, "email", forms.EMAIL_MAX + 50)
    if not session.login:
        values["name"] = forms.field(form, "name", forms.NAME_MAX + 50)
    email = forms.email_address(values["email"])
    if session.login:
        client = world.find_client_by_email(hub.partner_id, email)
        if client is None:
            raise forms.Invalid(
                f"there is no account with this email at {hub.name}; "
                "check the address, or sign up instead"
            )
        session.client_id, session.name, session.email = client.id, client.name, client.email
        session.api_key_permission = None
        return True
    name = forms.person_name(values["name"])
    if world.find_client_by_email(hub.partner_id, email):
        raise forms.Invalid("an account with this email already exists; log in instead")
    session.client_id, session.name, session.email = None, name, email
    return True


def payment(
    world: Sandbox, _hub: Hub, session: flow.PopupSession, form: FormData, values: dict[str, Any]
) -> bool:
    values["holder"] = forms.field(form, "holder", forms.NAME_MAX)
    values["expiry"] = forms.field(form, "expiry", 10)
    number = forms.field(form, "card_number", 30)
    cvc = forms.field(form, "cvc", 10)
    forms.person_name(values["holder"])
    card = forms.card(number, values["expiry"], cvc, today=world.clock().date())
    session.card_last4 = card.last4
    return True


def api_key(
    _world: Sandbox, _hub: Hub, session: flow.PopupSession, form: FormData, _values: dict[str, Any]
) -> bool:
    choice = forms.field(form, "api_key_permission", 10)
    if choice not in ("grant", "deny"):
        raise forms.Invalid("choose whether the partner may generate API keys for your numbers")
    session.api_key_permission = choice == "grant"
    return True


def numbers(
    world: Sandbox, hub: Hub, session: flow.PopupSession, form: FormData, values: dict[str, Any]
) -> bool:
    action = forms.field(form, "action", 20)
    raw_numbers = forms.fields(form, "phone_number", 40)
    raw_names = forms.fields(form, "phone_name", forms.PHONE_NAME_MAX + 50)
    rows = [(n or "", m or "") for n, m in zip_longest(raw_numbers, raw_names)]
    values["rows"] = [row for row in rows if row[0].strip() or row[1].strip()]
    chosen: list[flow.NewNumber] = []
    for position, (raw_number, raw_name) in enumerate(values["rows"], start=1):
        try:
            number = forms.phone_number(raw_number)
            name = forms.phone_name(raw_name, session.name)
        except forms.Invalid as exc:
            raise forms.Invalid(f"number {position}: {exc}") from None
        if any(earlier.phone_number == number for earlier in chosen):
            raise forms.Invalid(f"number {position} is listed twice")
        taken = flow.number_taken(world, hub.partner_id, number)
        if taken is not None and taken.client_id == session.client_id:
            raise forms.Invalid(
                f"number {position} is already connected to your account; "
                "you can share it on the next page"
            )
        if taken is not None:
            raise forms.Invalid(f"number {position} is already connected to another account")
        chosen.append(flow.NewNumber(number, name))
    session.new_numbers = chosen
    if action == "add":
        if len(values["rows"]) >= forms.MAX_NUMBERS:
            raise forms.Invalid(f"at most {forms.MAX_NUMBERS} numbers at a time")
        values["rows"].append(("", ""))
        return False
    if not chosen and session.client_id is None:
        raise forms.Invalid("add at least one WhatsApp number")
    return True


def share(
    world: Sandbox, _hub: Hub, session: flow.PopupSession, form: FormData, values: dict[str, Any]
) -> bool:
    earlier = flow.earlier_channels(world, session)
    ticked = forms.fields(form, "share", 80, forms.MAX_NUMBERS + len(earlier))
    share_new: set[int] = set()
    share_earlier: set[str] = set()
    known_earlier = {c.id for c in earlier}
    for value in ticked:
        kind, _, ref = value.partition(":")
        if kind == "new" and forms.is_ascii_number(ref) and int(ref) < len(session.new_numbers):
            share_new.add(int(ref))
        elif kind == "channel" and ref in known_earlier:
            share_earlier.add(ref)
        else:
            raise forms.Invalid("the permission form names a number this popup did not offer")
    values["share_new"], values["share_earlier"] = share_new, share_earlier
    return True


STEP_HANDLERS: dict[str, Handler] = {
    "account": account,
    "payment": payment,
    "api-key": api_key,
    "numbers": numbers,
    "share": share,
}


def step_context(
    world: Sandbox, hub: Hub, session: flow.PopupSession, values: dict[str, Any]
) -> dict[str, Any]:
    """What the current step's template shows, besides hub, session, steps and error."""
    params = session.params
    context: dict[str, Any] = {"labels": STEP_LABELS}
    if session.step == "account":
        context["name"] = values.get("name", session.name or params.name[: forms.NAME_MAX])
        context["email"] = values.get("email", session.email or params.email[: forms.EMAIL_MAX])
    elif session.step == "payment":
        context["price_lines"] = p.PRICE_LINES
        context["holder"] = values.get("holder", session.name)
        context["expiry"] = values.get("expiry", "")
    elif session.step == "api-key":
        granted = session.api_key_permission
        if granted is None and session.client_id is not None:
            granted = world.client(session.client_id).api_key_permission
        context["granted"] = granted
    elif session.step == "numbers":
        rows = values.get("rows") or [(n.phone_number, n.phone_name) for n in session.new_numbers]
        if not rows:
            rows = [(forms.prefill_number(params.number) if params.number else "", "")]
        context["rows"] = rows
        context["earlier"] = flow.earlier_channels(world, session)
    elif session.step == "share":
        context["new_numbers"] = list(enumerate(session.new_numbers))
        context["earlier"] = flow.earlier_channels(world, session)
    return context
