"""One error shape for the whole service API, after Stripe's: type, code, message.

Every refusal under ``/api/v1`` is ``{"error": {"type", "code", "message"}}``:

| status | code | when |
| --- | --- | --- |
| 400 | ``invalid_json`` | the body is not JSON at all |
| 400 | ``invalid_cursor`` (and others) | a value the route itself refuses |
| 401 | ``unauthorized`` (type ``authentication``) | no or a wrong bearer token |
| 404 | ``not_found`` | no such resource for this product, or no such route |
| 405 | ``method_not_allowed`` | the route exists, the method does not (``Allow`` says which) |
| 409 / 410 | per route | the resource's state refuses the request |
| 413 | ``too_large`` | body over the limit (``BodySizeLimit``) |
| 422 | ``validation_failed`` | parameters or JSON that fail the schema (names each field) |
| 500 | ``internal_error`` (type ``api_error``) | a bug: quote the ``X-Request-ID`` |
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from onboard360.runtime.logging import REQUEST_ID
from onboard360.services.refusals import Refused


class ApiError(Refused):
    """A refusal only the API's edge makes (a bad cursor, a body that is no JSON object);
    a command's refusals are services/refusals.py's and answer the same way."""

    def __init__(
        self, status: int, code: str, message: str, type_: str = "invalid_request"
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.type = type_


def refused_response(exc: Refused) -> JSONResponse:
    """Every ``Refused`` under /api/v1, in the one shape: the only translation the API has."""
    return error_response(exc.status, exc.type, exc.code, exc.message)


def error_response(
    status: int, type_: str, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "code": code, "message": message}},
        status_code=status,
        headers=headers,
    )


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


def unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized", "send 'Authorization: Bearer <product API token>'", "authentication"
    )


def validation_error(exc: RequestValidationError) -> JSONResponse:
    """422 naming each field that failed and why — never the input itself (it may hold a
    secret); a body that is no JSON at all is 400 ``invalid_json``."""
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return error_response(400, "invalid_request", "invalid_json", "body: not valid JSON")
    problems = "; ".join(
        f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in errors
    )
    return error_response(422, "invalid_request", "validation_failed", problems[:1000])


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own refusals (no such route, wrong method) in the one shape."""
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail)
    if exc.status_code == 404:
        message = "no such endpoint: see /docs for the API's routes"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the first route on the path; one path may have several
        # (GET and POST /onboardings are two routes): name every method the path takes.
        headers["Allow"] = allowed = _allowed_methods(request) or headers.get("Allow", "")
        message = f"{request.method} is not allowed here; allowed: {allowed}"
    return error_response(exc.status_code, "invalid_request", code, message, headers)


def _allowed_methods(request: Request) -> str:
    """Every method the OpenAPI document lists for the request's path (public API)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def internal_error() -> JSONResponse:
    request_id = REQUEST_ID.get() or "unknown"
    message = f"internal error; quote request id {request_id} when reporting it"
    # Answered outside the middleware that adds X-Request-ID: add it here.
    headers = {"X-Request-ID": request_id}
    return error_response(500, "api_error", "internal_error", message, headers)
