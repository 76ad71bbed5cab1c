"""What every scenario step is: a kind (``do``), an optional name (``as``), its fields, what
it answers for later steps to refer to, and how it runs.

A step kind is one subclass of ``Step`` with a ``do`` literal: defining the class registers
it (``KINDS``), so a new kind — say ``expect_abandoned`` or ``resume`` — is one class in
one module, imported by ``kinds.py``. Its ``outputs`` name what ``$name.output`` may refer
to, checked before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from onboard360.runtime.clock import parse_duration

if TYPE_CHECKING:
    from onboard360.sandbox.scenario.context import Context

# `$name.output` or `$name.output.N` as a whole value; `${name.output}` inside a string.
REF = r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.(?P<output>[a-z_]+)(?:\.(?P<index>\d+))?"
WHOLE_REF = re.compile(rf"^\$(?:{REF})$")
EMBEDDED_REF = re.compile(rf"\$\{{(?:{REF})\}}")
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

# What a step answers: a single id (str) or several (list, `.N` picks one).
OutputType = Literal["str", "list"]

# Names every scenario may refer to without a step: `${run.id}` (hex) and `${run.digits}`
# (8 digits, for phone numbers) are new for every run; `$var.<name>` is one of [vars].
BUILTIN_OUTPUTS: dict[str, dict[str, OutputType]] = {"run": {"id": "str", "digits": "str"}}

KINDS: dict[str, type[Step]] = {}


def _duration(value: str) -> str:
    parse_duration(value)  # ValueError saying how to write one
    return value


# "500ms", "30s", "5m", "2h", "1d"
Duration = Annotated[str, AfterValidator(_duration)]


class Failed(Exception):
    """An expectation was not met, or the sandbox or onboard360 refused a step."""


class Step(BaseModel):
    """One step of a scenario. Subclasses set ``do`` (a one-value Literal) and ``outputs``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # `as = "signup"`: later steps refer to this one's outputs as $signup.<output>.
    ref_name: str | None = Field(None, alias="as", pattern=NAME_PATTERN, max_length=64)
    outputs: ClassVar[dict[str, OutputType]] = {}
    # Talks to onboard360's API (with the product's token), not only to the sandbox.
    needs_service: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            KINDS[kind] = cls

    def run(self, ctx: Context) -> dict[str, Any]:
        """Do the step (references already resolved); answer its outputs."""
        raise NotImplementedError

    def describe(self) -> str:
        """The step as its progress line shows it."""
        fields = self.model_dump(exclude={"ref_name"}, exclude_defaults=True)
        shown = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.kind_name()} {shown}".strip()

    @classmethod
    def kind_name(cls) -> str:
        return str(cls.__dict__.get("kind", cls.__name__))


@dataclass(frozen=True)
class Reference:
    name: str
    output: str
    index: int | None

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Reference:
        index = match["index"]
        return cls(match["name"], match["output"], None if index is None else int(index))

    def __str__(self) -> str:
        return f"${self.name}.{self.output}" + ("" if self.index is None else f".{self.index}")


@dataclass(frozen=True)
class Found:
    """A reference found in a step: where, and whether a whole list may stand there."""

    where: str
    ref: Reference
    embedded: bool


def references(value: Any, where: str = "") -> Iterator[Found | str]:
    """Every reference in a step's field values, or the text of a malformed one."""
    if isinstance(value, str):
        whole = WHOLE_REF.match(value)
        if whole:
            yield Found(where, Reference.from_match(whole), embedded=False)
        elif value.startswith("$") and not value.startswith(("${", "$$")):
            yield f"{where}: {value!r} is not a reference; write $name.output (e.g. $signup.client)"
        for match in EMBEDDED_REF.finditer(value):
            yield Found(where, Reference.from_match(match), embedded=True)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from references(item, f"{where}[{position}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, f"{where}.{key}" if where else str(key))


@dataclass
class Results:
    """What earlier steps answered, by their ``as`` name."""

    by_name: dict[str, dict[str, Any]] = field(default_factory=dict)

    def lookup(self, ref: Reference) -> Any:
        value = self.by_name[ref.name][ref.output]
        if ref.index is not None:
            if not isinstance(value, list) or ref.index >= len(value):
                raise Failed(f"{ref} does not exist: {ref.name}.{ref.output} is {value!r}")
            value = value[ref.index]
        return value

    def resolve(self, value: Any) -> Any:
        """``value`` with every reference replaced by what it names."""
        if isinstance(value, str):
            whole = WHOLE_REF.match(value)
            if whole:
                return self.lookup(Reference.from_match(whole))
            text = EMBEDDED_REF.sub(lambda m: str(self.lookup(Reference.from_match(m))), value)
            return text.replace("$$", "$")
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        return value
