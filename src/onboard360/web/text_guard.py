"""One boundary for text PostgreSQL cannot store: a NUL character in a URL or a form.

PostgreSQL's ``text`` holds no NUL (psycopg refuses to send one), so ``?type=%00`` or a
login email with ``%00`` in it used to reach the database and come back as a 500. This
pure-ASGI middleware refuses such a request before any route sees it, naming the part
that held it, in the shape of the page asked for:

- the product API (``/api/``): its usual 422 ``validation_failed`` naming the field;
- the dashboard and the connect pages: an HTML page saying what was wrong;
- anything else: the service's JSON error shape, 400.

Other channels for such text are closed where they enter: JSON bodies by the API's
request models (``web/strict.py``) and the webhook receiver (``web/json_body.py``),
cursors by ``web/pagination.py``. A lone UTF-16 surrogate cannot arrive through a URL
or a form: both are decoded from UTF-8 with replacement.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onboard360.web import connect
from onboard360.web.dashboard.pages import render_error
from onboard360.web.errors import error_response

FORM = b"application/x-www-form-urlencoded"


def _nul_field(encoded: bytes) -> str | None:
    """The name of the first field of a query string or form whose name or value holds
    a NUL character ("" when only its name can be shown as such), or None."""
    if b"%00" not in encoded.lower() and b"\x00" not in encoded:
        return None
    for name, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        raw_name = unquote_to_bytes(name.replace("+", " "))
        if b"\x00" in raw_name:
            return "(a parameter's name)"
        if "\x00" in value:
            return raw_name.decode("utf-8", "replace")
    return "(a parameter)"


class RefuseNulText:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if b"%00" in raw_path.lower() or "\x00" in scope["path"]:
            await _refuse(scope, "path", "the path")(scope, receive, send)
            return
        field = _nul_field(scope.get("query_string", b""))
        if field is not None:
            await _refuse(scope, f"query.{field}", f"the parameter {field}")(scope, receive, send)
            return
        if scope["method"] == "POST" and _is_form(scope):
            body, receive = await _buffered(receive)
            field = _nul_field(body)
            if field is not None:
                response = _refuse(scope, f"body.{field}", f"the field {field}")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_form(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == FORM
    return False


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body (BodySizeLimit, outside, bounds it), and a receive that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _refuse(scope: Scope, loc: str, what: str) -> Response:
    path: str = scope["path"]
    message = f"{what} contains a NUL character, which no valid value holds"
    if path.startswith("/api/"):
        return error_response(422, "invalid_request", "validation_failed", f"{loc}: {message}")
    if path.startswith("/dashboard"):
        return render_error(400, f"This address cannot be shown: {message}.")
    if path.startswith("/connect"):
        return connect.templates.TemplateResponse(
            Request(scope),
            "connect_error.html",
            {"message": f"This link is malformed: {message}."},
            status_code=400,
            headers=connect.PAGE_HEADERS,
        )
    return error_response(400, "invalid_request", "invalid_text", f"{loc}: {message}")
