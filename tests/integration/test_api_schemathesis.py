"""The product API keeps the promises of its own OpenAPI: schemathesis generates valid and
invalid requests for every ``/api/v1`` operation and sends them over real HTTP to the
service, on a real database holding onboardings, clients and channels, with a valid
bearer token. Every answer must be no 5xx, a declared status code, the declared content
type and a body that matches the declared schema (errors included) — and every request
that violates the schema must be refused (``negative_data_rejection``), also when it
names a channel, client or event that exists, where accepting it would change things."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.service_http import (
    execute,
    live_channel,
    redirect_query,
    sandbox_channels,
    state_of,
)
from tests.integration.test_adoption import old_system_channels
from tests.stack import PRODUCT_TOKEN, Stack

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
AUTH = {"Authorization": f"Bearer {PRODUCT_TOKEN}"}
EXAMPLES = 20  # per operation and generation mode: ~2 × 15 × 20 requests in all
# What refusing a schema-violating request may answer: schemathesis's defaults, and 413
# for a body over the size limit (a refusal too, before the schema is even looked at).
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]


def seed(stack: Stack) -> dict[str, dict[str, Any]]:
    """A live channel, a channel waiting for permission, an onboarding never finished;
    returns, per operation, a request that names things that exist."""
    created, client, channel = live_channel(stack, "pp")
    waiting = stack.start_onboarding("dp", "waiting-user")
    other_client, (blocked,) = sandbox_channels(stack, "dp", permission=False)
    stack.sandbox.set_status(blocked, "running")
    query = redirect_query(state_of(waiting), other_client, [blocked])
    answer = httpx.get(f"{stack.service_url}/connect/dp?{query}", timeout=10)
    assert answer.status_code == 200, answer.text
    open_onboarding = stack.start_onboarding("pp", "never-came-back")
    gave_up = stack.start_onboarding("pp", "gave-up")
    expired = "UPDATE onboardings SET expires_at = now() - interval '1 minute' WHERE id = %s"
    execute(stack, expired, gave_up["id"])
    unclaimed, _ = sandbox_channels(stack, "pp")  # known from webhooks only: nobody's
    stack.settle()
    imported, taken = old_system_channels(stack, 2)
    forwarded = stack.start_onboarding("pp", "official-button-user")
    button_client, button_channels = sandbox_channels(stack, "pp")
    events = httpx.get(f"{stack.service_url}/api/v1/events", headers=AUTH, timeout=10).json()
    ids = {
        "onboarding_id": created["id"],
        "client_id": client,
        "channel_id": channel,
        "event_id": events["data"][0]["id"],
    }
    return {
        "GET /api/v1/onboardings/{onboarding_id}": {"path_parameters": ids},
        "GET /api/v1/channels/{channel_id}": {"path_parameters": ids},
        "GET /api/v1/channels/{channel_id}/api-key": {"path_parameters": ids},
        "POST /api/v1/channels/{channel_id}/rotate-key": {
            "path_parameters": ids,
            "body": {"key_version": 1},
        },
        "GET /api/v1/clients/{client_id}": {"path_parameters": ids},
        "GET /api/v1/clients/{client_id}/timeline": {"path_parameters": ids},
        "POST /api/v1/clients/{client_id}/claim": {
            "path_parameters": {"client_id": unclaimed},
            "body": {"external_user_id": "claimed-user", "hub": "pp"},
        },
        "GET /api/v1/events/{event_id}/attempts": {"path_parameters": ids},
        "POST /api/v1/events/{event_id}/replay": {"path_parameters": ids},
        "POST /api/v1/onboardings": {"body": {"hub": "pp", "external_user_id": "new-user"}},
        "GET /api/v1/hubs/{hub}/adoption": {"path_parameters": {"hub": "pp"}},
        "POST /api/v1/hubs/{hub}/adoption/import": {
            "path_parameters": {"hub": "pp"},
            "body": {"keys": [{"channel_id": imported.channel_id, "api_key": imported.api_key}]},
        },
        "POST /api/v1/hubs/{hub}/adoption/take-over": {
            "path_parameters": {"hub": "pp"},
            "body": {"channel_ids": [taken.channel_id], "live_channels": 1},
        },
        "POST /api/v1/redirects": {
            "body": {
                "query": redirect_query(None, button_client, button_channels),
                "onboarding_id": forwarded["id"],
            }
        },
        "POST /api/v1/onboardings/{onboarding_id}/resume": {
            "path_parameters": {"onboarding_id": gave_up["id"]}
        },
        "POST /api/v1/onboardings/{onboarding_id}/popup-parameters": {
            "path_parameters": {"onboarding_id": open_onboarding["id"]}
        },
    }


def test_every_api_operation_conforms_to_the_openapi(stack: Stack) -> None:
    known = seed(stack)
    schema = schemathesis.openapi.from_url(f"{stack.service_url}/openapi.json").include(
        path_regex="^/api/v1/"
    )
    schema.config.checks.negative_data_rejection.expected_statuses = REFUSALS
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14

    answered: dict[str, set[int]] = {}

    def validated(case: Any) -> None:
        # A case that leaves out the bearer token on purpose (an invalid header) is sent
        # as it is; every other one with the product's token.
        headers = None if _negative_at(case, ParameterLocation.HEADER) else AUTH
        response = case.call(base_url=stack.service_url, headers=headers, timeout=10)
        answered.setdefault(case.operation.label, set()).add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _fuzz(operation.as_strategy(generation_mode=mode), validated)
            try:
                run()
            except Unsatisfiable:
                pass  # no invalid request exists (e.g. an operation without parameters)
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
        # And with ids and bodies that exist, which random ones never hit: invalid
        # bodies and parameters sent to a real channel, client, event.
        if operation.label in known:
            at_known = _at_known(known[operation.label])
            strategy = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
            try:
                _fuzz(strategy.map(at_known), validated)()
            except Unsatisfiable:
                pass
            except Exception as exc:
                failures.append(f"{operation.label} (negative, known ids): {exc}")
            try:
                validated(operation.Case(**known[operation.label]))
            except Exception as exc:
                failures.append(f"{operation.label} (known ids): {exc}")
    assert not failures, "\n\n".join(failures)
    # Every operation was exercised, and every one succeeded at least once.
    assert {op.label for op in operations} == set(answered)
    never_succeeded = {label for label, codes in answered.items() if not codes & {200, 201, 202}}
    assert not never_succeeded, answered


def _negative_at(case: Any, location: ParameterLocation) -> bool:
    return case.meta is not None and bool(case.meta.is_negative_at(location))


def _at_known(request: dict[str, Any]) -> Callable[[Any], Any]:
    """A generated case aimed at existing things: its path parameters, unless they are
    what the case made invalid, become the known ids."""
    known_path = request.get("path_parameters")

    def aim(case: Any) -> Any:
        if known_path and not _negative_at(case, ParameterLocation.PATH):
            case.path_parameters = {**(case.path_parameters or {}), **known_path}
        return case

    return aim


def _fuzz(strategy: Any, check: Callable[[Any], None]) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        check(case)

    return run


def test_every_api_operation_declares_the_product_token(stack: Stack) -> None:
    spec = httpx.get(f"{stack.service_url}/openapi.json").json()
    assert spec["components"]["securitySchemes"]["productToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "the product's API token",
    }
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
    ]
    assert len(operations) >= 14
    unsecured = [
        f"{method} {path}"
        for path, method, operation in operations
        if operation.get("security") != [{"productToken": []}]
    ]
    assert not unsecured
