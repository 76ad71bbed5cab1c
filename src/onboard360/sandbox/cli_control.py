"""`onboard360 sandbox <command>`: drive a running sandbox through its control API.

Like ``stripe trigger``: create hubs, clients and channels, move channels, send events,
switch faults and permissions, read deliveries and key counts. Answers are printed as
JSON; a failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import typer

from onboard360.sandbox.control_client import (
    DEFAULT_URL,
    URL_ENV,
    ControlClient,
    ControlError,
)

UrlOption = Annotated[
    str, typer.Option("--url", envvar=URL_ENV, help="Base URL of the running sandbox.")
]
HeaderOption = Annotated[
    list[str] | None,
    typer.Option("--header", help="Custom webhook header 'Name: value' (repeatable)."),
]
PartnerIdArg = Annotated[str, typer.Argument(help="The hub's partner id.")]
ChannelIdArg = Annotated[str, typer.Argument(help="The channel's id.")]
StepDelayOption = Annotated[
    float | None, typer.Option(help="Seconds between lifecycle steps after signup.")
]


def _switch(name: str, help_text: str | None = None) -> Any:
    """A ``--name/--no-name`` flag; None (not given) leaves the sandbox's value alone."""
    return typer.Option(f"--{name}/--no-{name}", help=help_text, show_default=False)


class Billing(StrEnum):
    partner = "partner"
    direct = "direct"


class Action(StrEnum):
    grant = "grant"
    revoke = "revoke"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _run(url: str, action: Callable[[ControlClient], Any]) -> None:
    """Call the sandbox and print its answer as JSON."""
    try:
        with ControlClient(url) as client:
            result = action(client)
    except ControlError as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(result, indent=2))


def _given(**values: Any) -> dict[str, Any]:
    """Only the options the user gave, so the sandbox's defaults apply to the rest."""
    return {name: value for name, value in values.items() if value is not None}


def _headers(raw: list[str] | None) -> dict[str, str] | None:
    if not raw:
        return None
    headers = {}
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise _fail(f"--header must look like 'Name: value', not {item!r}", 2)
        headers[name.strip()] = value.strip()
    return headers


def create_hub(
    *,
    redirect_url: Annotated[str, typer.Option(help="Where the popup sends the client back.")],
    url: UrlOption = DEFAULT_URL,
    webhook_url: Annotated[str | None, typer.Option(help="Partner webhook URL.")] = None,
    partner_id: Annotated[str | None, typer.Option(help="Wanted id (ends in PA).")] = None,
    name: Annotated[str | None, typer.Option(help="Hub name.")] = None,
    billing: Annotated[Billing, typer.Option(help="Who pays 360dialog.")] = Billing.partner,
    platform_secret: Annotated[
        str | None, typer.Option(help="Signs webhooks and IO Signatures (≥ 16 chars).")
    ] = None,
    header: HeaderOption = None,
    api_key: Annotated[
        str | None, typer.Option(help="Partner API key (generated if unset).")
    ] = None,
    io_signature: Annotated[bool, _switch("io-signature", "Require IO Signatures.")] = False,
    step_delay: StepDelayOption = None,
    auto_advance: Annotated[bool, _switch("auto-advance", "Move new channels to running.")] = True,
    echo_state: Annotated[
        bool, _switch("echo-state", "Send the popup's state back on the redirect.")
    ] = True,
) -> None:
    """Create a Partner Hub; prints its ids, credentials and popup URL."""
    spec = _given(
        redirect_url=redirect_url,
        webhook_url=webhook_url,
        partner_id=partner_id,
        name=name,
        billing=billing.value,
        platform_secret=platform_secret,
        webhook_headers=_headers(header),
        api_key=api_key,
        io_signature=io_signature,
        step_delay_seconds=step_delay,
        auto_advance=auto_advance,
        echo_state=echo_state,
    )
    _run(url, lambda c: c.create_hub(spec))


def hubs(url: UrlOption = DEFAULT_URL) -> None:
    """List the hubs (without secrets)."""
    _run(url, lambda c: c.hubs())


def update_hub(
    partner_id: PartnerIdArg,
    *,
    url: UrlOption = DEFAULT_URL,
    webhook_url: Annotated[str | None, typer.Option(help="New partner webhook URL.")] = None,
    redirect_url: Annotated[str | None, typer.Option(help="New redirect URL.")] = None,
    header: HeaderOption = None,
    step_delay: StepDelayOption = None,
    auto_advance: Annotated[bool | None, _switch("auto-advance")] = None,
    io_signature: Annotated[bool | None, _switch("io-signature")] = None,
    echo_state: Annotated[bool | None, _switch("echo-state")] = None,
) -> None:
    """Change a hub's webhook URL, headers, step delay, auto-advance, IO Signature or
    whether the popup echoes ``state``."""
    patch = _given(
        webhook_url=webhook_url,
        redirect_url=redirect_url,
        webhook_headers=_headers(header),
        step_delay_seconds=step_delay,
        auto_advance=auto_advance,
        io_signature=io_signature,
        echo_state=echo_state,
    )
    if not patch:
        raise _fail("nothing to change; give at least one option (see --help)", 2)
    _run(url, lambda c: c.update_hub(partner_id, patch))


def create_client(
    partner_id: PartnerIdArg,
    *,
    url: UrlOption = DEFAULT_URL,
    name: Annotated[str | None, typer.Option(help="Business name.")] = None,
    email: Annotated[str | None, typer.Option(help="Contact email.")] = None,
    permission: Annotated[
        bool | None,
        typer.Option(
            "--permission/--no-permission",
            help="API-key permission (default: granted under Partner Payment only).",
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[str | None, typer.Option(help="Wanted client id.")] = None,
) -> None:
    """Create a client under a hub (sends client_created)."""
    body = _given(name=name, email=email, api_key_permission=permission, client_id=client_id)
    _run(url, lambda c: c.create_client(partner_id, body))


def create_channel(
    client_id: Annotated[str, typer.Argument(help="The client's id.")],
    *,
    url: UrlOption = DEFAULT_URL,
    phone: Annotated[str | None, typer.Option(help="Phone number (generated if unset).")] = None,
    phone_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    shared: Annotated[
        bool, typer.Option("--shared/--not-shared", help="Shared with the partner.")
    ] = (True),
    channel_id: Annotated[str | None, typer.Option(help="Wanted channel id.")] = None,
) -> None:
    """Create a channel for a client (sends channel_created; auto-advances if the hub does)."""
    body = _given(phone_number=phone, phone_name=phone_name, shared=shared, channel_id=channel_id)
    _run(url, lambda c: c.create_channel(client_id, body))


def status(
    channel_id: ChannelIdArg,
    new_status: Annotated[str, typer.Argument(metavar="STATUS", help="e.g. ready, running.")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Move a channel to a status, sending the webhook of every lifecycle step passed."""
    _run(url, lambda c: c.set_status(channel_id, new_status))


def trigger(
    channel_id: ChannelIdArg,
    event: Annotated[str, typer.Argument(help="e.g. account_violation, channel_running.")],
    url: UrlOption = DEFAULT_URL,
    violation_type: Annotated[str | None, typer.Option(help="For account_violation.")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            help="An extra payload field name=value (a JSON value, or text).",
        ),
    ] = None,
) -> None:
    """Send one partner webhook about a channel now, named as 360dialog names its events."""
    body = _given(event=event, violation_type=violation_type)
    if field:
        body["fields"] = _fields(field)
    _run(url, lambda c: c.trigger(channel_id, body))


def _fields(raw: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise _fail(f"--field must look like name=value, not {item!r}", 2)
        try:
            fields[name.strip()] = json.loads(value)
        except ValueError:
            fields[name.strip()] = value
    return fields


def permission(
    action: Annotated[Action, typer.Argument(help="grant or revoke.")],
    target_id: Annotated[
        str, typer.Argument(metavar="ID", help="Client id; a channel id with --sharing.")
    ],
    url: UrlOption = DEFAULT_URL,
    sharing: Annotated[
        bool, typer.Option("--sharing", help="Share or unshare a channel instead.")
    ] = False,
) -> None:
    """Grant or revoke a client's API-key permission, or (--sharing) a channel's sharing."""
    granted = action is Action.grant
    if sharing:
        _run(url, lambda c: c.set_shared(target_id, granted))
    else:
        _run(url, lambda c: c.set_api_key_permission(target_id, granted))


def faults(
    partner_id: PartnerIdArg,
    *,
    url: UrlOption = DEFAULT_URL,
    duplicate: Annotated[float | None, typer.Option(help="Share of webhooks sent twice.")] = None,
    drop: Annotated[float | None, typer.Option(help="Share of webhooks never sent.")] = None,
    reorder: Annotated[
        bool | None, _switch("reorder", "Hold webhooks and send them shuffled.")
    ] = None,
    delay: Annotated[float | None, typer.Option(help="Extra seconds before each webhook.")] = None,
    api_429: Annotated[float | None, typer.Option(help="Share of API calls answered 429.")] = None,
    retry_after: Annotated[int | None, typer.Option(help="Retry-After of those 429s.")] = None,
    api_5xx: Annotated[float | None, typer.Option(help="Share of API calls answered 5xx.")] = None,
    latency: Annotated[float | None, typer.Option(help="Seconds added to API answers.")] = None,
    outage: Annotated[bool | None, _switch("outage", "Answer every API call with 503.")] = None,
) -> None:
    """Switch a hub's faults (only those given); prints them all. No option: just print."""
    patch = _given(
        webhook_duplicate_rate=duplicate,
        webhook_drop_rate=drop,
        webhook_reorder=reorder,
        webhook_delay_seconds=delay,
        api_429_rate=api_429,
        api_retry_after_seconds=retry_after,
        api_5xx_rate=api_5xx,
        api_latency_seconds=latency,
        outage=outage,
    )
    _run(url, lambda c: c.update_faults(partner_id, patch))


def deliveries(
    url: UrlOption = DEFAULT_URL,
    partner_id: Annotated[str | None, typer.Option(help="Only this hub.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="The newest N attempts.")] = 100,
) -> None:
    """Show webhook delivery attempts, oldest first."""
    _run(url, lambda c: c.deliveries(partner_id=partner_id, event=event, limit=limit))


def keys(
    target_id: Annotated[
        str, typer.Argument(metavar="ID", help="A partner id, or a channel id with --channel.")
    ],
    url: UrlOption = DEFAULT_URL,
    channel: Annotated[bool, typer.Option("--channel", help="ID is a channel.")] = False,
    only_with_keys: Annotated[bool, typer.Option(help="Leave out channels without keys.")] = False,
) -> None:
    """How many API keys were generated: per channel of a hub, or for one channel."""
    if channel:
        _run(url, lambda c: {"channel_id": target_id, "keys_generated": _keys_of(c, target_id)})
    else:
        _run(url, lambda c: c.key_counts(target_id, only_with_keys=only_with_keys))


def _keys_of(client: ControlClient, channel_id: str) -> int:
    return int(client.channel(channel_id)["keys_generated"])


def seed(
    partner_id: PartnerIdArg,
    *,
    url: UrlOption = DEFAULT_URL,
    clients: Annotated[int, typer.Option(min=1, help="How many clients.")] = 100,
    channels_per_client: Annotated[int, typer.Option(min=0, help="Channels each.")] = 1,
    channel_status: Annotated[str, typer.Option("--status", help="Their status.")] = "running",
    webhooks: Annotated[bool, typer.Option("--webhooks/--no-webhooks")] = False,
) -> None:
    """Bulk-create clients and channels (e.g. for a reconciliation benchmark)."""
    body = {
        "clients": clients,
        "channels_per_client": channels_per_client,
        "status": channel_status,
        "webhooks": webhooks,
    }
    _run(url, lambda c: c.seed(partner_id, body))


COMMANDS: dict[str, Callable[..., None]] = {
    "create-hub": create_hub,
    "hubs": hubs,
    "update-hub": update_hub,
    "create-client": create_client,
    "create-channel": create_channel,
    "status": status,
    "trigger": trigger,
    "permission": permission,
    "faults": faults,
    "deliveries": deliveries,
    "keys": keys,
    "seed": seed,
}


def register(app: typer.Typer) -> None:
    for name, command in COMMANDS.items():
        app.command(name)(command)
