"""Read a scenario file and check all of it before anything runs.

A malformed file — not TOML, an unknown step, a field of the wrong type, a reference to a
step that does not exist (yet) or to an output it does not have — gets one
``ScenarioError`` naming the file, the line and the step, and nothing is run.

The file (TOML)::

    name = "Partner Payment: the happy path"

    [[steps]]
    do = "popup"            # the step's kind (kinds.py lists them)
    as = "signup"           # optional: later steps refer to $signup.<output>
    hub = "pp"
    numbers = ["+4915100000001"]

    [[steps]]
    do = "status"
    channel = "$signup.channel"
    status = "running"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from onboard360.sandbox.scenario.base import (
    BUILTIN_OUTPUTS,
    KINDS,
    NAME_PATTERN,
    Found,
    OutputType,
    Step,
    references,
)
from onboard360.sandbox.scenario.kinds import KIND_NAMES

TOP_LEVEL = frozenset({"name", "description", "vars", "steps"})
STEP_HEADER = re.compile(r"^\s*\[\[\s*steps\s*\]\]\s*(#.*)?$")
MAX_STEPS = 500


class ScenarioError(Exception):
    """The scenario file cannot be run as written."""


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    description: str
    steps: list[Step]
    lines: list[int | None]
    variables: dict[str, str]

    def with_variables(self, given: dict[str, str]) -> Scenario:
        """The scenario with some [vars] set (``--var name=value``); unknown names refused."""
        unknown = sorted(set(given) - set(self.variables))
        if unknown:
            known = ", ".join(sorted(self.variables)) or "none"
            raise ScenarioError(f"{self.path}: no variable {', '.join(unknown)} (it has {known})")
        return replace(self, variables={**self.variables, **given})


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ScenarioError(f"{path}: cannot read it ({reason})") from None
    return parse_scenario(text, path)


def parse_scenario(text: str, path: Path) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise ScenarioError(
            f"{path}: unknown top-level key {', '.join(unknown)}; a scenario has name, "
            "description, [vars] and [[steps]]"
        )
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError(f"{path}: no steps; add [[steps]] tables, each with a `do`")
    if len(raw_steps) > MAX_STEPS:
        raise ScenarioError(f"{path}: {len(raw_steps)} steps; at most {MAX_STEPS}")
    for key in ("name", "description"):
        if not isinstance(data.get(key, ""), str):
            raise ScenarioError(f"{path}: `{key}` must be a string")
    variables = data.get("vars", {})
    if not isinstance(variables, dict) or not all(
        isinstance(v, str) and re.match(NAME_PATTERN, k) for k, v in variables.items()
    ):
        raise ScenarioError(f'{path}: [vars] holds names with string values, e.g. hub = "pp"')
    starts = step_lines(text, len(raw_steps))
    outputs: dict[str, dict[str, OutputType]] = dict(BUILTIN_OUTPUTS)
    outputs["var"] = dict.fromkeys(variables, "str")
    later = {raw.get("as"): n for n, raw in enumerate(raw_steps, 1) if isinstance(raw, dict)}
    steps = []
    for number, raw in enumerate(raw_steps, 1):
        locate = Locator(path, text, number, starts[number - 1])
        step = build_step(raw, locate)
        locate = replace(locate, kind=step.kind_name())
        for found in references(raw_fields(raw)):
            check_reference(found, outputs, later, locate)
        if step.ref_name is not None:
            if step.ref_name in outputs:
                raise locate.error("as", f"the name {step.ref_name!r} is already taken")
            outputs[step.ref_name] = type(step).outputs
        steps.append(step)
    return Scenario(
        path,
        str(data.get("name") or path.stem),
        str(data.get("description", "")),
        steps,
        starts,
        dict(variables),
    )


def step_lines(text: str, count: int) -> list[int | None]:
    """The line of each ``[[steps]]`` header (None when the steps are written otherwise)."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if STEP_HEADER.match(line)]
    return list(lines) if len(lines) == count else [None] * count


def raw_fields(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in ("do", "as")}


@dataclass(frozen=True)
class Locator:
    path: Path
    text: str
    number: int
    line: int | None
    kind: str | None = None

    def field_line(self, key: str) -> int | None:
        """The line of ``key = …`` inside this step's table, else the table's own line."""
        if self.line is None:
            return None
        lines = self.text.splitlines()
        for offset, line in enumerate(lines[self.line :], self.line + 1):
            if STEP_HEADER.match(line):
                break
            if re.match(rf"^\s*{re.escape(key)}\s*=", line):
                return offset
        return self.line

    def error(self, key: str | None, message: str) -> ScenarioError:
        line = self.field_line(key) if key else self.line
        where = f"{self.path}:{line}" if line else str(self.path)
        what = f"step {self.number}" + (f" ({self.kind})" if self.kind else "")
        return ScenarioError(f"{where}: {what}: {message}")


def build_step(raw: Any, locate: Locator) -> Step:
    if not isinstance(raw, dict):
        raise locate.error(None, "must be a table ([[steps]]) with a `do`")
    kind = raw.get("do")
    if kind is None:
        raise locate.error(None, f"has no `do`; one of {', '.join(KIND_NAMES)}")
    if not isinstance(kind, str) or kind not in KINDS:
        raise locate.error("do", f"unknown step {kind!r}; one of {', '.join(KIND_NAMES)}")
    fields = {k: v for k, v in raw.items() if k != "do"}
    locate = replace(locate, kind=kind)
    try:
        return KINDS[kind].model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        key = loc[0] if loc else None
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            allowed = sorted((f.alias or name) for name, f in KINDS[kind].model_fields.items())
            message = f"unknown field; {kind} takes {', '.join(allowed)}"
        elif first["type"] == "missing":
            message = "is required"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        where = f"{'.'.join(loc)}: " if loc else ""  # a rule of the whole step has no field
        raise locate.error(key, f"{where}{message}{more}") from None


def check_reference(
    found: Found | str,
    outputs: dict[str, dict[str, OutputType]],
    later: dict[Any, int],
    locate: Locator,
) -> None:
    if isinstance(found, str):
        raise locate.error(found.split(":")[0].split(".")[0].split("[")[0], found)
    ref, key = found.ref, found.where.split(".")[0].split("[")[0]
    if ref.name not in outputs:
        if ref.name in later and later[ref.name] >= locate.number:
            why = f"step {later[ref.name]} is named {ref.name!r}, but it runs later"
        else:
            why = f'no earlier step is named {ref.name!r} (give one `as = "{ref.name}"`)'
        raise locate.error(key, f"{found.where}: {ref} refers to nothing: {why}")
    known = outputs[ref.name]
    if ref.output not in known:
        raise locate.error(
            key,
            f"{found.where}: {ref}: {ref.name!r} has no output {ref.output!r}; "
            f"it has {', '.join(sorted(known))}",
        )
    kind = known[ref.output]
    if kind == "list" and ref.index is None:
        raise locate.error(
            key, f"{found.where}: {ref} is a list; pick one, e.g. ${ref.name}.{ref.output}.0"
        )
    if kind == "str" and ref.index is not None:
        raise locate.error(key, f"{found.where}: {ref}: {ref.output!r} is one value, not a list")
