"""The product API's response bodies (requests are declared beside their routes)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from onboard360.domain.funnel import StepName

Stage = Literal["waiting_for_popup", "confirming", "connecting", "action_needed", "live", "expired"]
AttentionKind = Literal[
    "waiting_for_permission",
    "key_not_working",
    "stuck",
    "provisioning_failed",
    "handoff_failing",
    "violations",
    "unclaimed_clients",
    "redirect_unconfirmed",
]


class Channel(BaseModel):
    hub: str
    channel_id: str
    client_id: str | None
    phone_number: str | None
    status: str | None
    permission: str
    api_key_available: bool
    key_version: int | None = Field(description="name it in POST …/rotate-key")
    live: bool
    reason: str | None = Field(description="why no key may be generated yet")
    blocker: str | None
    updated_at: str | None


class Onboarding(BaseModel):
    id: str
    hub: str
    external_user_id: str
    stage: Stage
    client_id: str | None
    channels: list[Channel]
    revoked: list[str]
    created_at: str
    expires_at: str
    redirected_at: str | None
    verification: str | None = Field(
        description="what became of the redirect once checked with 360dialog: pending "
        "(360dialog not reachable yet, a job retries), applied, conflict (the client is "
        "someone else's or older than the onboarding: claim it), unknown_client; null: "
        "no redirect yet"
    )
    journey_id: str = Field(
        description="the journey's first onboarding (its own id unless it resumes another)"
    )
    resumed_from: str | None = Field(description="the onboarding this one resumes")
    abandoned_at: str | None = Field(
        description="when it was abandoned: its expiry (no redirect came back), or "
        "abandon_after_hours after its redirect (no number with a key by then); the mark "
        "stays if it moves on later"
    )
    abandoned_step: str | None = Field(description="the last step it had reached then")
    abandoned_reason: str | None = Field(description="why it waited then (a blocker)")


class OnboardingCreated(BaseModel):
    id: UUID
    hub: str
    connect_url: str = Field(description="our hosted page with the Connect button")
    popup_url: str = Field(description="open this in a popup to go straight to 360dialog")
    state: str = Field(
        description="the attempt's state: a capability for its connect page; keep it "
        "server-side (the official button gets its parameters from "
        "POST /onboardings/{id}/popup-parameters)"
    )
    returning_client: bool = Field(
        description="this user already has a client on the hub: the popup opens on login"
    )
    expires_at: str


class OnboardingResumed(OnboardingCreated):
    journey_id: UUID = Field(
        description="the journey's first onboarding: the funnel counts the journey once"
    )
    resumed_from: UUID = Field(description="the abandoned onboarding this one resumes")


class PopupParameters(BaseModel):
    onboarding_id: UUID
    hub: str
    partner_id: str = Field(description="the official button's partnerId")
    query_parameters: dict[str, str] = Field(
        description="the button's queryParameters for one opening: state, the prefill "
        "(number, email, name; next=login for a returning client) and, when the hub "
        "wants it, io_signature and io_timestamp signed now"
    )
    popup_url: str = Field(description="the same, as the 360dialog popup URL")


class ApiKey(BaseModel):
    channel_id: str
    hub: str
    api_key: str
    key_version: int


class RotationAccepted(BaseModel):
    channel_id: str
    intent: int
    key_version: int = Field(description="the version the new key will have")


class Client(BaseModel):
    hub: str
    client_id: str
    external_user_id: str | None
    created_at: str | None
    updated_at: str | None


class ClientWithChannels(Client):
    channels: list[Channel]


class TimelineItem(BaseModel):
    id: str = Field(description="unique within the client's timeline")
    at: str
    source: str
    kind: str
    channel_id: str | None
    detail: Any = Field(description="what happened; secret-looking fields are [redacted]")
    note: str | None


class SearchHit(BaseModel):
    kind: Literal["client", "channel", "onboarding"]
    hub: str
    client_id: str | None
    channel_id: str | None
    phone_number: str | None
    external_user_id: str | None
    onboarding_id: str | None
    created_at: str | None


class ChannelState(BaseModel):
    status: str
    permission: str
    key_status: str
    count: int


class HubOverview(BaseModel):
    hub: str
    onboardings: dict[str, int] = Field(description="onboardings by stage")
    channels: list[ChannelState]
    attention: dict[str, int] = Field(description="items in each needs-attention list")


class Overview(BaseModel):
    stuck_after_minutes: int
    hubs: list[HubOverview]


class AttentionItem(BaseModel):
    kind: AttentionKind
    hub: str
    channel_id: str | None
    client_id: str | None
    phone_number: str | None
    what: str | None
    since: str


class Event(BaseModel):
    id: str = Field(description="the webhook-id the product received it under")
    type: str
    hub: str | None
    client_id: str | None
    channel_id: str | None
    data: Any
    created_at: str
    delivered: bool
    state: Literal["delivered", "pending", "failed"] = Field(
        description="failed: every retry spent (replay it); pending: not accepted yet"
    )
    delivered_at: str | None
    attempts: int
    last_status: int | None
    last_error: str | None


class FunnelStep(BaseModel):
    step: StepName
    reached: int = Field(description="journeys that reached this step (or a later one)")
    conversion: float | None = Field(
        description="reached / the step before's reached (0–1); null for the first step "
        "or when none reached the step before"
    )
    median_seconds: float | None = Field(
        description="median time from the step before (within 1/16 s or 4.4%: read from "
        "the days' histograms)"
    )
    p90_seconds: float | None = Field(
        description="90th percentile time from the step before (within 1/16 s or 4.4%)"
    )


class TimeToLiveBucket(BaseModel):
    label: str
    min_seconds: int
    max_seconds: int | None = Field(description="exclusive; null for the last bucket")
    journeys: int


class TimeToLive(BaseModel):
    median_seconds: float | None
    p90_seconds: float | None
    buckets: list[TimeToLiveBucket]


class Abandoned(BaseModel):
    total: int = Field(description="journeys whose latest attempt was abandoned, not live")
    by_step: dict[str, int] = Field(
        description="by the abandoned attempt's abandoned_step (a step name; anything else: "
        "other); only steps with a journey"
    )


class FunnelOutcomes(BaseModel):
    live: int = Field(description="reached key_stored")
    abandoned: int
    in_progress: int


class Funnel(BaseModel):
    from_: str = Field(alias="from", description="first UTC day (YYYY-MM-DD)")
    to: str = Field(description="last UTC day, included")
    hubs: list[str] = Field(description="the hubs counted (after the hub and billing filters)")
    billing: Literal["partner", "direct"] | None
    client: Literal["new", "returning"] | None
    journeys: int = Field(description="journeys started in the range: first attempts")
    steps: list[FunnelStep]
    outcomes: FunnelOutcomes
    abandoned: Abandoned
    resumed: int = Field(description="journeys with more than one attempt")
    popup_blocked_unfinished: int = Field(
        description="the browser blocked the popup and no redirect came back"
    )
    popup_closed_unfinished: int = Field(
        description="the popup was closed before the redirect and none came back"
    )
    time_to_live: TimeToLive = Field(description="started → key_stored, journeys gone live")


class FunnelDay(BaseModel):
    day: str = Field(description="UTC day (YYYY-MM-DD)")
    started: int
    live: int
    abandoned: int
    in_progress: int
