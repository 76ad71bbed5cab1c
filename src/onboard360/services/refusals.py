"""The one refusal type: a command that cannot be done says why, and nothing was done.

Every refusal a caller can act on is a ``Refused``: a stable ``code`` (the API's
``error.code``), an HTTP ``status`` (what the API answers) and a message — the class's
docstring unless a more precise one is given. Messages never hold a secret (no API key,
no token): they are shown on pages, in JSON and on the terminal as they are.

Each edge translates ``Refused`` in one place: the API's exception handler
(``web/errors.py``), the dashboard's (``web/dashboard/sessions.py``) and the CLI's
``fail()`` (``cli/common.py``).

    Refused
    ├── NotFound                 404 not_found
    ├── OnboardingRefused        400/409/410 invalid_state: no live onboarding
    ├── RedirectRefused          409 invalid_state: a different redirect for a used attempt
    ├── ClaimRefused             a client cannot be bound to that user
    ├── AdoptionRefused          channels cannot be adopted (404 unknown_channel, else 409)
    ├── RotationRefused          the key cannot be rotated now (404 not_found, else 409)
    ├── ReplayRefused            events cannot be queued again (400 for a bad range, else 409)
    └── AccountRefused           an operator account cannot be made or changed (400)
"""

from __future__ import annotations

from typing import ClassVar


class Refused(Exception):
    """The request was refused; nothing was done."""

    code: str = "refused"
    status: int = 409
    type: str = "invalid_request"
    # Codes that answer with another status than the class's (e.g. ``not_found``: 404).
    statuses: ClassVar[dict[str, int]] = {"not_found": 404}

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: int | None = None
    ) -> None:
        text = message if message is not None else _first_paragraph(type(self).__doc__)
        super().__init__(text)
        self.message = text
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        elif code is not None and code in self.statuses:
            self.status = self.statuses[code]

    def __str__(self) -> str:
        return self.message


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "refused").strip().split("\n\n")[0].split())


class NotFound(Refused):
    """There is no such thing here."""

    code = "not_found"
    status = 404


class OnboardingRefused(Refused):
    """This onboarding is unknown here: start again from the partner's page."""

    code = "invalid_state"
    status = 400


class RedirectRefused(Refused):
    """This onboarding was already completed: start a new one from the partner's page."""

    code = "invalid_state"
    status = 409


class ClaimRefused(Refused):
    """The client cannot be bound to that user."""

    code = "claim_refused"
    status = 409


class AdoptionRefused(Refused):
    """Nothing was adopted."""

    code = "adoption_refused"
    status = 409
    statuses: ClassVar[dict[str, int]] = {"unknown_channel": 404, "not_found": 404}


class RotationRefused(Refused):
    """The channel's key cannot be rotated now."""

    code = "cannot_rotate"
    status = 409


class ReplayRefused(Refused):
    """The product's endpoint takes no deliveries now, or the replay asks too much."""

    code = "replay_refused"
    status = 409
    statuses: ClassVar[dict[str, int]] = {
        "not_found": 404,
        "invalid_range": 400,
        "range_too_large": 400,
    }


class AccountRefused(Refused):
    """The operator account cannot be made or changed."""

    code = "account_refused"
    status = 400
