"""What a request to the product API may hold: exactly what its OpenAPI declares.

A body field declared ``integer`` takes a JSON integer — not ``true``, ``"2"`` or
``2.0``, which pydantic's lax mode would turn into 1 and 2 (``rotate-key`` once rotated
a key on ``{"key_version": true}``). Every body is an object with
``additionalProperties: false``: an unknown field is refused, not ignored, so a typo
never silently means "the default". Query parameters arrive as text, so they are parsed
by their declared type's own spelling only: ``limit=10`` (not ``10.0``, ``+10`` or
``1_0``), ``delivered=true`` (not ``yes``, ``1`` or ``on``); a query parameter the
operation does not declare is refused too.

Every refusal is the API's usual 422 ``validation_failed`` naming the field
(``web/errors.py``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, model_validator

_INTEGER = re.compile(r"^(0|[1-9][0-9]{0,17})$")
_BOOLEANS = {"true": True, "false": False}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# An RFC 3339 date-time (OpenAPI's ``format: date-time``) with its offset; seconds may
# be left out, as ISO 8601 allows.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})$"
)


def storable_text(value: str) -> str:
    """Text PostgreSQL can hold: no NUL character, no unpaired UTF-16 surrogate."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain an unpaired UTF-16 surrogate") from None
    return value


class RequestBody(BaseModel):
    """A JSON request body: strict types, no unknown field, only storable text."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _storable(self) -> RequestBody:
        for name, value in self:
            if isinstance(value, str):
                try:
                    storable_text(value)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        return self


def _integer_text(value: Any) -> Any:
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        raise ValueError("must be an integer written in decimal digits")
    return value


def _boolean_text(value: Any) -> Any:
    if isinstance(value, str):
        if value not in _BOOLEANS:
            raise ValueError("must be true or false")
        return _BOOLEANS[value]
    return value


def _uuid_text(value: Any) -> Any:
    if isinstance(value, str) and not _UUID.fullmatch(value):
        raise ValueError("must be a UUID (8-4-4-4-12 hexadecimal digits)")
    return value


def _date_text(value: Any) -> Any:
    if isinstance(value, str) and not _DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD, e.g. 2026-12-04")
    return value


def _date_time_text(value: Any) -> Any:
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-12-04T10:00:00Z")
    return value


# Query and path parameters (always text on the wire).
QueryInt = Annotated[int, BeforeValidator(_integer_text)]
QueryBool = Annotated[bool, BeforeValidator(_boolean_text)]
PathUUID = Annotated[UUID, BeforeValidator(_uuid_text)]
QueryDate = Annotated[date, BeforeValidator(_date_text)]
# A body field JSON has no type for: a string in its declared format, then parsed (give
# the field ``Field(strict=False)``: strict mode wants a datetime object, not text).
DateTimeText = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


# The query parameters a route declares, cached on the route itself (not hashable).
_DECLARED = "_onboard360_query_names"


def _declared_query(route: APIRoute) -> frozenset[str]:
    names: frozenset[str] | None = getattr(route, _DECLARED, None)
    if names is None:
        found: set[str] = set()
        dependants = [route.dependant]
        while dependants:
            dependant = dependants.pop()
            found |= {param.alias or param.name for param in dependant.query_params}
            dependants.extend(dependant.dependencies)
        names = frozenset(found)
        setattr(route, _DECLARED, names)
    return names


async def no_unknown_query(request: Request) -> None:
    """Refuse query parameters the operation does not declare: ``?limt=10`` is a typo to
    report, not a request for the default page size."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _declared_query(route))
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "unknown parameter"}
                for name in unknown[:10]
            ]
        )
