"""The dashboard's one action framework: confirmed, audited, harmless when repeated.

Every operator action is a GET confirm page that says what will happen (or that nothing
is left to do) and a POST that checks the session's CSRF token and an explicit
``confirm=yes``, does the work in one transaction with an ``audit_log`` row, and
redirects back to its subject's page with ``?done=<outcome>``. A repeated POST (a resent
form, a double click) finds nothing left to do: each action decides from the current
state, or from what the confirm page showed.

actions.py (a client, a channel, an event) and deliveries.py (a product) declare their
actions with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode

from fastapi.responses import RedirectResponse

from onboard360.services.audit import audit
from onboard360.services.source import Source
from onboard360.web.dashboard.pages import PAGE_HEADERS
from onboard360.web.dashboard.sessions import PageError, Session
from onboard360.wiring.service import Service

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


class Subject(Protocol):
    """What an action is about: its page, its audit target and the detail naming it."""

    @property
    def page(self) -> str: ...
    @property
    def target(self) -> str: ...
    def detail(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=Subject)


@dataclass(frozen=True)
class Plan:
    """What the action would do now: ``step`` (``None``: nothing) and a sentence saying so."""

    step: str | None
    says: str
    fields: tuple[tuple[str, str], ...] = ()  # hidden fields the POST must carry back


Outcome = tuple[str, dict[str, Any]]  # the ``done`` code and the audit row's detail


@dataclass(frozen=True)
class Action(Generic[S]):
    """One action: how it finds its subject, plans, and does the work.

    ``do`` runs in the POST's transaction with the plan made in it; ``None``: the work is
    not one transaction (it calls 360dialog first) and its route does it. ``nothing``:
    the outcome when the plan finds nothing to do, without calling ``do``.
    """

    name: str
    title: str
    subject: Callable[[AsyncConnection, Service, Any], Awaitable[S]]
    plan: Callable[[AsyncConnection, S, Any], Awaitable[Plan]]
    do: Callable[[AsyncConnection, Service, S, Plan, Any, Source], Awaitable[Outcome]] | None
    nothing: str | None = None


def find(actions: dict[str, Action[S]], name: str) -> Action[S]:
    action = actions.get(name)
    if action is None:
        raise PageError(404, "There is no such action.")
    return action


async def confirm(service: Service, action: Action[S], params: Any) -> tuple[S, Plan]:
    """The confirm page's subject and plan (read in a transaction that locks nothing long)."""
    async with service.engine.begin() as conn:
        subject = await action.subject(conn, service, params)
        return subject, await action.plan(conn, subject, {})


async def perform(
    service: Service, session: Session, action: Action[S], form: Any
) -> RedirectResponse:
    """The POST's work: plan again, do, audit — one transaction; then back to the page."""
    if action.do is None:
        raise PageError(404, "There is no such action.")
    source = Source.dashboard(session.operator_id, session.email)
    async with service.engine.begin() as conn:
        subject = await action.subject(conn, service, form)
        plan = await action.plan(conn, subject, form)
        if plan.step is None and action.nothing is not None:
            done, detail = action.nothing, {}
        else:
            done, detail = await action.do(conn, service, subject, plan, form, source)
        await write_audit(conn, session, action=action, subject=subject, done=done, detail=detail)
    return back(subject, done)


async def write_audit(
    conn: AsyncConnection,
    session: Session,
    *,
    action: Action[S],
    subject: S,
    done: str,
    detail: dict[str, Any],
) -> None:
    await audit(
        conn,
        session.operator_id,
        action.name,
        subject.target,
        {**subject.detail(), "outcome": done, **detail},
    )


def back(subject: Subject, done: str) -> RedirectResponse:
    return RedirectResponse(
        f"{subject.page}?{urlencode({'done': done})}", status_code=303, headers=PAGE_HEADERS
    )
