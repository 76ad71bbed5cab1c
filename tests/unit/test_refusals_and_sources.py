"""The one refusal type and the typed source (services/refusals.py, services/source.py)."""

from __future__ import annotations

import pytest

from onboard360.services import source
from onboard360.services.refusals import (
    AdoptionRefused,
    NotFound,
    Refused,
    ReplayRefused,
    RotationRefused,
)
from onboard360.services.source import Origin, Source


def test_a_refusal_without_a_message_says_its_docstring() -> None:
    refused = NotFound()
    assert (refused.code, refused.status, str(refused)) == (
        "not_found",
        404,
        "There is no such thing here.",
    )


def test_a_refusal_code_can_carry_its_own_status() -> None:
    assert RotationRefused("no such channel", code="not_found").status == 404
    assert RotationRefused("busy", code="rotation_in_progress").status == 409
    assert ReplayRefused("bad", code="invalid_range").status == 400
    assert AdoptionRefused("unknown", code="unknown_channel").status == 404


def test_every_refusal_is_one_type() -> None:
    for kind in (NotFound, RotationRefused, ReplayRefused, AdoptionRefused):
        assert issubclass(kind, Refused)


def test_sources_are_spelled_one_way() -> None:
    assert str(source.API) == "api"
    assert str(source.CLI) == "cli"
    assert str(Source.dashboard(7)) == "dashboard:operator-7"


def test_a_dashboard_source_never_shows_the_operator_email_in_its_name() -> None:
    operator = Source.dashboard(7, "ops@example.test")
    assert "ops@" not in str(operator)
    assert operator.shown_to_operators == "operator:ops@example.test"


def test_only_a_dashboard_source_names_an_operator() -> None:
    with pytest.raises(ValueError, match="dashboard"):
        Source(Origin.API, 3)
    with pytest.raises(ValueError, match="dashboard"):
        Source(Origin.DASHBOARD)
