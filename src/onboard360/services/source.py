"""Who asked for a command: written into its audit row and its timeline line.

A source is typed, so no command can invent a spelling: ``api`` (the product's
integration), ``dashboard:operator-<id>`` (an operator's login, by id: the product API's
timeline never names an operator's email), ``cli`` (someone at the server's terminal),
``sync`` (the periodic reconciliation), ``worker`` (a job), ``webhook`` (360dialog's
partner webhook) and ``redirect`` (a browser coming back from the popup).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Origin(StrEnum):
    API = "api"
    DASHBOARD = "dashboard"
    CLI = "cli"
    SYNC = "sync"
    WORKER = "worker"
    WEBHOOK = "webhook"
    REDIRECT = "redirect"


@dataclass(frozen=True)
class Source:
    """Who asked: ``origin``, and for the dashboard the operator's id."""

    origin: Origin
    operator_id: int | None = None
    # The operator's login, for what only operators read (who disabled an endpoint, on the
    # dashboard); never in str(): the product's timeline shows no operator's email.
    operator_email: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if (self.origin is Origin.DASHBOARD) != (self.operator_id is not None):
            raise ValueError("a dashboard source names its operator, and only it does")

    def __str__(self) -> str:
        if self.operator_id is not None:
            return f"{self.origin}:operator-{self.operator_id}"
        return str(self.origin)

    @classmethod
    def dashboard(cls, operator_id: int, email: str | None = None) -> Source:
        return cls(Origin.DASHBOARD, operator_id, email)

    @property
    def shown_to_operators(self) -> str:
        """Who asked, as the dashboard shows it: the operator's login when known."""
        return f"operator:{self.operator_email}" if self.operator_email else str(self)


API = Source(Origin.API)
CLI = Source(Origin.CLI)
SYNC = Source(Origin.SYNC)
WORKER = Source(Origin.WORKER)
