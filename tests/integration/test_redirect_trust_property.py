"""The binding property end to end: random interleavings of honest signups, forged
redirects (hosted page and API), direct links and 360dialog's own webhooks against the real
service, database and sandbox. Whatever the order, no client is bound to anyone but the
user whose onboarding created it, no id 360dialog lacks gets a row, and the sandbox
generates keys only for numbers of honestly onboarded clients — one each."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboard360.domain import parse_redirect
from tests.integration.service_http import get_redirect, redirect_query, rows, state_of
from tests.stack import Stack

USERS = ["alice", "bob", "mallory"]


@dataclass
class Truth:
    """What 360dialog (the sandbox) holds, as the test made it."""

    creator: dict[str, str] = field(default_factory=dict)
    channels: dict[str, list[str]] = field(default_factory=dict)
    strays: list[str] = field(default_factory=list)  # direct-link clients nobody claims

    def all_channels(self) -> list[str]:
        return sorted(c for chs in self.channels.values() for c in chs)


def new_client(stack: Stack, truth: Truth, owner: str | None, n: int) -> str:
    client = stack.sandbox.create_client(stack.hub("pp").partner_id, "Acme", "a@acme.test").id
    channel = stack.sandbox.create_channel(client, f"+4915{n:09d}").id
    stack.sandbox.set_status(channel, "running")
    truth.channels[client] = [channel]
    if owner is None:
        truth.strays.append(client)
    else:
        truth.creator[client] = owner
    return client


def forward(stack: Stack, query: str, *, api: bool) -> None:
    """Through the product API (naming the onboarding whose state the query carries), or the
    page. A redirect with no state (a direct link) has no onboarding to name: the page."""
    state = parse_redirect(query).state
    if api and state is not None:
        answer = stack.api.post("/api/v1/redirects", json={"query": query, "state": state})
    else:
        answer = get_redirect(stack, "pp", query)
    assert answer.status_code in (200, 400), answer.text


steps = st.lists(
    st.one_of(
        st.tuples(st.just("signup"), st.sampled_from(USERS), st.booleans()),
        st.tuples(st.just("direct"), st.booleans()),
        st.tuples(
            st.just("forge"),
            st.sampled_from(USERS),
            st.integers(0, 20),
            st.lists(st.integers(0, 40), max_size=3),
            st.booleans(),
            st.booleans(),
        ),
    ),
    min_size=1,
    max_size=5,
)

SEEN = {"n": 0}


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
def test_no_interleaving_binds_or_keys_on_a_forgers_word(stack: Stack, script: list[tuple]) -> None:
    # Every example adds to the same stack and the same truth: the checks are global.
    truth = TRUTHS.setdefault(id(stack), Truth())
    for kind, *args in script:
        SEEN["n"] += 1
        n = SEEN["n"]
        if kind == "signup":
            user, api = args
            state = state_of(stack.start_onboarding("pp", user=user))
            client = new_client(stack, truth, user, n)
            forward(stack, redirect_query(state, client, truth.channels[client]), api=api)
        elif kind == "direct":
            (junk,) = args
            client = "JUNKCL" if junk else new_client(stack, truth, None, n)
            forward(stack, redirect_query(None, client, truth.channels.get(client, [])), api=False)
        else:
            user, pick, targets, revoke, api = args
            clients = sorted([*truth.creator, *truth.strays]) or ["JUNKCL"]
            client = clients[pick % len(clients)]
            if truth.creator.get(client) == user:
                user = f"not-{user}"  # a forger is never the client's own user
            pool = [*truth.all_channels(), "FAKE0000CH"]
            named = list(dict.fromkeys(pool[t % len(pool)] for t in targets))
            state = state_of(stack.start_onboarding("pp", user=user))
            query = redirect_query(state, client, [] if revoke else named)
            if revoke:
                query = redirect_query(state, client, [], revoked=named)
            forward(stack, query, api=api)
    stack.settle()

    bound = rows(stack, "SELECT client_id, external_user_id FROM clients")
    for row in bound:
        if row["external_user_id"] is not None:
            assert truth.creator.get(row["client_id"]) == row["external_user_id"], row
    known = set(truth.all_channels())
    assert {r["channel_id"] for r in rows(stack, "SELECT channel_id FROM channels")} <= known
    for client, channels in truth.channels.items():
        for channel in channels:
            generated = stack.sandbox.channel(channel).keys_generated
            # An honest signup's number is keyed once, whatever was forged around it; a
            # direct-link client's never (nobody claimed it).
            assert generated == (1 if client in truth.creator else 0), (client, channel)
    completed = rows(
        stack,
        "SELECT payload FROM product_events WHERE event_type = 'onboarding.completed'",
    )
    for row in completed:
        payload = row["payload"]
        assert truth.creator.get(payload["client_id"]) == payload["external_user_id"]


TRUTHS: dict[int, Truth] = {}
