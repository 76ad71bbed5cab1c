"""One error shape for the whole service API, after Stripe's: type, code, message."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel


class ApiError(Exception):
    """A refusal the caller can act on."""

    def __init__(
        self, status: int, code: str, message: str, type_: str = "invalid_request"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type_


def error_response(status: int, type_: str, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "code": code, "message": message}}, status_code=status
    )


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


def unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized", "send 'Authorization: Bearer <product API token>'", "authentication"
    )


class ErrorDetail(BaseModel):
    type: str
    code: str
    message: str


class ErrorBody(BaseModel):
    """The body of every refusal, for the OpenAPI document."""

    error: ErrorDetail


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that may answer these statuses with an ErrorBody."""
    return {status: {"model": ErrorBody} for status in statuses}
