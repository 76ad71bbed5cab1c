"""Scenario files are checked whole before anything runs: each mistake is one error naming
the file, the line and the step (sandbox/scenario/loader.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onboard360.cli.app import app
from onboard360.sandbox.cli_scenario import shipped
from onboard360.sandbox.scenario.base import Results
from onboard360.sandbox.scenario.kinds import KIND_NAMES
from onboard360.sandbox.scenario.kinds_popup import Popup
from onboard360.sandbox.scenario.loader import ScenarioError, load_scenario, parse_scenario
from onboard360.sandbox.scenario.runner import resolved

FILE = Path("story.toml")

SIGNUP = """
[[steps]]
do = "popup"
as = "signup"
hub = "pp"
numbers = ["+4915100000001"]
"""


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, FILE)
    return str(caught.value)


@pytest.mark.parametrize("name", sorted(shipped()))
def test_every_shipped_scenario_is_well_formed(name: str) -> None:
    scenario = load_scenario(shipped()[name])
    assert scenario.steps
    assert all(line is not None for line in scenario.lines)


def test_an_unknown_step_names_its_line_and_the_known_ones() -> None:
    message = error_of(SIGNUP + '\n[[steps]]\ndo = "teleport"\n')
    assert message.startswith("story.toml:9: step 2: unknown step 'teleport'; one of advance, ")
    assert "expect_event" in message


def test_a_wrong_type_names_the_field_and_its_line() -> None:
    message = error_of(SIGNUP + '\n[[steps]]\ndo = "sharing"\nchannel = "X1CH"\nshared = "no"\n')
    assert message == "story.toml:11: step 2 (sharing): shared: Input should be a valid boolean"


def test_a_missing_field_and_an_unknown_field() -> None:
    assert error_of('[[steps]]\ndo = "status"\nchannel = "A"\n') == (
        "story.toml:1: step 1 (status): status: is required"
    )
    message = error_of('[[steps]]\ndo = "status"\nchannel = "A"\nstatus = "running"\ncolor = 1\n')
    assert message.startswith("story.toml:5: step 1 (status): color: unknown field; status takes")


def test_a_reference_to_a_later_step_is_refused() -> None:
    text = '[[steps]]\ndo = "status"\nchannel = "$signup.channel"\nstatus = "running"\n' + SIGNUP
    assert error_of(text) == (
        "story.toml:3: step 1 (status): channel: $signup.channel refers to nothing: "
        "step 2 is named 'signup', but it runs later"
    )


def test_a_reference_to_no_step_an_unknown_output_or_a_whole_list() -> None:
    step = '\n[[steps]]\ndo = "status"\nchannel = "{}"\nstatus = "running"\n'
    assert "no earlier step is named 'sigup'" in error_of(SIGNUP + step.format("$sigup.channel"))
    assert "'signup' has no output 'chanel'; it has channel, channels, client" in error_of(
        SIGNUP + step.format("$signup.chanel")
    )
    assert "$signup.new is a list; pick one, e.g. $signup.new.0" in error_of(
        SIGNUP + step.format("$signup.new")
    )
    assert "'$signup' is not a reference" in error_of(SIGNUP + step.format("$signup"))


def test_embedded_references_and_vars_are_checked_too() -> None:
    text = (
        '[vars]\nhub = "pp"\n\n[[steps]]\ndo = "popup"\nhub = "$var.hub"\nuser = "u-${run.nope}"\n'
    )
    assert "'run' has no output 'nope'; it has digits, id" in error_of(text)


def test_not_toml_and_unknown_top_level_keys() -> None:
    assert error_of("[[steps]\n").startswith("story.toml: not valid TOML: ")
    assert "unknown top-level key stepz" in error_of("[[stepz]]\ndo = 1\n")
    assert error_of('name = "x"\n') == (
        "story.toml: no steps; add [[steps]] tables, each with a `do`"
    )


def test_a_name_used_twice_is_refused() -> None:
    assert "the name 'signup' is already taken" in error_of(SIGNUP + SIGNUP)


def test_references_resolve_to_earlier_outputs() -> None:
    scenario = parse_scenario(
        SIGNUP + '\n[[steps]]\ndo = "popup"\nhub = "pp"\nuntick = ["$signup.new.0"]\n'
        'email = "shop-${run.id}@example.com"\n',
        FILE,
    )
    results = Results({"run": {"id": "ab12"}, "signup": {"new": ["C1CH", "C2CH"]}})
    step = resolved(scenario.steps[1], results)
    assert isinstance(step, Popup)
    assert step.untick == ["C1CH"]
    assert step.email == "shop-ab12@example.com"


def test_vars_can_be_set_but_not_invented() -> None:
    scenario = parse_scenario('[vars]\nhub = "pp"\n' + SIGNUP.replace('"pp"', '"$var.hub"'), FILE)
    assert scenario.with_variables({"hub": "main"}).variables == {"hub": "main"}
    with pytest.raises(ScenarioError, match="no variable hubb"):
        scenario.with_variables({"hubb": "main"})


def test_every_step_kind_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sandbox-scenarios.md").read_text()
    missing = [kind for kind in KIND_NAMES if f"| `{kind}` |" not in docs]
    assert missing == []


def test_the_readme_scenario_is_well_formed() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (example,) = [
        b for b in re.findall(r"```toml\n(.*?)```", readme, re.DOTALL) if "[[steps]]" in b
    ]
    scenario = parse_scenario(example, Path("README.md"))
    assert [type(step).kind_name() for step in scenario.steps] == [
        "popup",
        "status",
        "expect_event",
        "expect_sandbox",
    ]


def test_check_only_checks_and_an_unknown_var_runs_nothing() -> None:
    runner = CliRunner()
    # No sandbox listens on port 9: --check never calls it.
    target = ["--url", "http://127.0.0.1:9"]
    checked = runner.invoke(
        app, ["sandbox", "run", "partner-payment-happy-path", *target, "--check"]
    )
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.strip().endswith("6 steps, all well-formed")
    unknown = runner.invoke(
        app, ["sandbox", "run", "partner-payment-happy-path", *target, "--var", "hubb=x"]
    )
    assert unknown.exit_code == 2
    assert "no variable hubb (it has hub)" in unknown.stderr


def test_a_bad_duration_says_how_to_write_one() -> None:
    text = (
        '[[steps]]\ndo = "expect_sandbox"\nchannel = "A"\nhas = { shared = true }\n'
        'within = "10 secs"\n'
    )
    assert error_of(text) == (
        "story.toml:5: step 1 (expect_sandbox): within: '10 secs' is not a duration; "
        "write e.g. 500ms, 30s, 5m, 2h or 1d"
    )


def test_steps_that_need_onboard360_are_refused_up_front_without_it() -> None:
    result = CliRunner().invoke(
        app,
        ["sandbox", "run", "partner-payment-happy-path", "--url", "http://127.0.0.1:9"],
        env={"ONBOARD360_URL": None, "ONBOARD360_API_TOKEN": None},
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: steps 1 (popup), 2 (expect_event), 4 (expect_event), 6 (expect_onboarding) "
        "talk to onboard360: give --service-url and --token (or ONBOARD360_URL and "
        "ONBOARD360_API_TOKEN)"
    )


def test_a_popup_opens_either_a_new_onboarding_or_an_earlier_one() -> None:
    neither = '[[steps]]\ndo = "popup"\nnumbers = ["+4915100000001"]\n'
    both = '[[steps]]\ndo = "popup"\nhub = "pp"\nonboarding = "x"\n'
    wanted = "give either hub (a new onboarding) or onboarding (an earlier one)"
    assert error_of(neither) == f"story.toml:1: step 1 (popup): {wanted}"
    assert error_of(both) == f"story.toml:1: step 1 (popup): {wanted}"


def test_a_resume_refers_to_an_earlier_attempt_and_its_outputs_are_checked() -> None:
    started = '[[steps]]\ndo = "start_onboarding"\nas = "first"\nhub = "pp"\n'
    ok = started + (
        '\n[[steps]]\ndo = "resume"\nas = "again"\nonboarding = "$first.onboarding"\n'
        '\n[[steps]]\ndo = "popup"\nonboarding = "$again.onboarding"\n'
        '\n[[steps]]\ndo = "expect_onboarding"\nonboarding = "$again.onboarding"\n'
        'abandoned = false\nhas = { journey_id = "$first.onboarding" }\n'
    )
    assert len(parse_scenario(ok, FILE).steps) == 4
    no_output = started + '\n[[steps]]\ndo = "popup"\nonboarding = "$first.journey_id"\n'
    assert error_of(no_output) == (
        "story.toml:8: step 2 (popup): onboarding: $first.journey_id: 'first' has no output "
        "'journey_id'; it has expires_at, onboarding, partner_id"
    )
    assert error_of('[[steps]]\ndo = "resume"\n') == (
        "story.toml:1: step 1 (resume): onboarding: is required"
    )


def test_a_sweep_takes_no_fields_and_a_count_is_at_least_one() -> None:
    message = error_of('[[steps]]\ndo = "sweep"\nhub = "pp"\n')
    assert message.startswith("story.toml:3: step 1 (sweep): hub: unknown field")
    zero = '[[steps]]\ndo = "expect_event"\nevent = "onboarding.abandoned"\ncount = 0\n'
    assert error_of(zero) == (
        "story.toml:4: step 1 (expect_event): count: Input should be greater than or equal to 1"
    )
