"""The popup's server-side sessions and the one step that changes the hub: ``complete``.

A session holds everything the person entered across the popup's pages; nothing reaches the
``Sandbox`` until the permission screen is submitted, so cancelling or abandoning the popup
leaves no trace. Sessions live in memory, keyed by an unguessable id carried in a hidden
form field, and expire.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from onboard360.hub import platform as p
from onboard360.sandbox.entities import Channel, Hub, SandboxError
from onboard360.sandbox.popup_forms import PopupParams
from onboard360.sandbox.state import Sandbox

Step = Literal["account", "payment", "api-key", "numbers", "share"]

SESSION_TTL_SECONDS = 3600
MAX_SESSIONS = 2000


@dataclass
class NewNumber:
    phone_number: str
    phone_name: str


@dataclass
class PopupSession:
    id: str
    partner_id: str
    params: PopupParams
    redirect_base: str
    started: float
    step: Step = "account"
    login: bool = False
    # A returning client's id; None while a new client signs up.
    client_id: str | None = None
    name: str = ""
    email: str = ""
    card_last4: str | None = None
    # Direct Payment only; None means "not asked" (Partner Payment) or "unchanged".
    api_key_permission: bool | None = None
    new_numbers: list[NewNumber] = field(default_factory=list)


class PopupSessions:
    """At most ``limit`` live sessions; the oldest go first, expired ones on every new one."""

    def __init__(
        self,
        ttl: float = SESSION_TTL_SECONDS,
        limit: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self._sessions: dict[str, PopupSession] = {}

    def start(self, partner_id: str, params: PopupParams, redirect_base: str) -> PopupSession:
        now = self.clock()
        for stale in [k for k, s in self._sessions.items() if now - s.started > self.ttl]:
            del self._sessions[stale]
        while len(self._sessions) >= self.limit:
            del self._sessions[next(iter(self._sessions))]
        session = PopupSession(
            id=secrets.token_urlsafe(24),
            partner_id=partner_id,
            params=params,
            redirect_base=redirect_base,
            started=now,
            login=params.login,
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, partner_id: str) -> PopupSession | None:
        session = self._sessions.get(session_id)
        if session is None or session.partner_id != partner_id:
            return None
        if self.clock() - session.started > self.ttl:
            del self._sessions[session_id]
            return None
        return session

    def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


def steps_for(hub: Hub, session: PopupSession) -> list[Step]:
    """The pages this popup shows, in order (for the step indicator and for ``next_step``)."""
    steps: list[Step] = ["account"]
    if hub.direct_payment:
        if session.client_id is None:
            steps.append("payment")
        steps.append("api-key")
    steps += ["numbers", "share"]
    return steps


def next_step(hub: Hub, session: PopupSession) -> Step:
    steps = steps_for(hub, session)
    return steps[steps.index(session.step) + 1]


def earlier_channels(sandbox: Sandbox, session: PopupSession) -> list[Channel]:
    """A returning client's numbers that the permission screen offers again."""
    if session.client_id is None:
        return []
    return [
        c
        for c in sandbox.channels_of(session.client_id)
        if c.status != p.STATUS_TERMINATED and c.partner_id == session.partner_id
    ]


def number_taken(sandbox: Sandbox, partner_id: str, phone_number: str) -> Channel | None:
    """The hub's live channel with this number, if there is one."""
    return next(
        (
            c
            for c in sandbox.channels_of_hub(partner_id)
            if c.phone_number == phone_number and c.status != p.STATUS_TERMINATED
        ),
        None,
    )


@dataclass(frozen=True)
class Outcome:
    client_id: str
    channel_ids: list[str]
    revoked_ids: list[str]


def complete(
    sandbox: Sandbox,
    hub: Hub,
    session: PopupSession,
    share_new: set[int],
    share_earlier: set[str],
) -> Outcome:
    """Apply the whole popup to the hub at once. Checks first, so a refusal changes nothing."""
    earlier = earlier_channels(sandbox, session)
    unknown = share_earlier - {c.id for c in earlier}
    if unknown or any(not 0 <= i < len(session.new_numbers) for i in share_new):
        raise SandboxError("the permission form names numbers this popup did not offer")
    for number in session.new_numbers:
        if number_taken(sandbox, hub.partner_id, number.phone_number):
            raise SandboxError(f"{number.phone_number} was connected meanwhile; start again")
    if session.client_id is None:
        if sandbox.find_client_by_email(hub.partner_id, session.email):
            raise SandboxError("an account with this email was created meanwhile; log in instead")
        client = sandbox.create_client(
            hub.partner_id,
            session.name,
            session.email,
            api_key_permission=session.api_key_permission if hub.direct_payment else None,
        )
        if session.card_last4:
            client.payment_method = f"card ending {session.card_last4}"
    else:
        client = sandbox.client(session.client_id, hub.partner_id)
        granted = session.api_key_permission
        if hub.direct_payment and granted is not None and granted != client.api_key_permission:
            sandbox.set_api_key_permission(client.id, granted)

    revoked = [c.id for c in earlier if c.shared and c.id not in share_earlier]
    regranted = [c.id for c in earlier if not c.shared and c.id in share_earlier]
    sandbox.set_shared(revoked, False)
    sandbox.set_shared(regranted, True)
    shared_now = [c.id for c in earlier if c.id in share_earlier]
    for index, number in enumerate(session.new_numbers):
        channel = sandbox.create_channel(
            client.id,
            number.phone_number,
            phone_name=number.phone_name,
            shared=index in share_new,
        )
        if index in share_new:
            shared_now.append(channel.id)
    return Outcome(client.id, shared_now, revoked)
