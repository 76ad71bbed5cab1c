"""A person in the sandbox's popup, over plain HTTP: each page's form read and submitted the
way a browser would, from the page onboard360's opener sends them to, to the redirect.

The page says which step it is (``data-step`` on its form), so the walk follows whatever
the hub asks — Direct Payment's price page and API-key choice, a returning client's login —
and fails with the popup's own error line when a page refuses what was entered.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

from onboard360.sandbox.scenario.base import Failed

STEP_RE = re.compile(r'id="step-form" data-step="([a-z-]+)"')
SESSION_RE = re.compile(r'name="session" value="([^"]+)"')
ERROR_RE = re.compile(r'id="error"[^>]*>([^<]*)<')
H1_RE = re.compile(r"<h1[^>]*>([^<]*)</h1>")
SHARE_RE = re.compile(r'name="share" value="([^"]+)"( checked)? data-number="([^"]*)"')
MAX_PAGES = 20
TEST_CARD = "4242 4242 4242 4242"


@dataclass(frozen=True)
class Choices:
    """What the person enters."""

    name: str
    email: str
    login: bool | None  # None: as the popup opens (onboard360 opens a returning one on login)
    permission: str | None  # "grant" | "deny"; None: keep what the page shows
    numbers: list[str]
    untick: list[str]  # numbers or channel ids not to share
    leave_at: str | None = None  # the page where the person gives up
    cancel: bool = False  # gives up with the popup's Cancel button (else closes the window)
    card: str = TEST_CARD


@dataclass
class Redirect:
    url: str
    client: str
    channels: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)


def text_of(pattern: re.Pattern[str], page: str) -> str:
    match = pattern.search(page)
    return html.unescape(match[1]).strip() if match else ""


def _ids(raw: list[str] | None) -> list[str]:
    value = (raw or ["[]"])[0].strip("[]")
    return [item for item in value.split(",") if item]


def parse_redirect(location: str) -> Redirect:
    query = parse_qs(urlsplit(location).query)
    if "client" not in query:
        raise Failed(f"the popup redirected without a client: {location}")
    return Redirect(
        location, query["client"][0], _ids(query.get("channels")), _ids(query.get("revoked"))
    )


class PopupWalk:
    def __init__(self, http: httpx.Client, popup_url: str, choices: Choices) -> None:
        self.http = http
        parts = urlsplit(popup_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.partner_id = parts.path.rstrip("/").split("/")[3]
        self.popup_url = popup_url
        self.choices = choices

    def run(self) -> Redirect | None:
        """The redirect the popup ends in; None when the person left it (``leave_at``)."""
        page = self.http.get(self.popup_url)
        session = text_of(SESSION_RE, page.text)
        if page.status_code != 200 or not session:
            problem = text_of(ERROR_RE, page.text) or text_of(H1_RE, page.text)
            raise Failed(f"the popup did not open ({page.status_code}): {problem}")
        for _ in range(MAX_PAGES):
            step = text_of(STEP_RE, page.text)
            if step == self.choices.leave_at:
                if self.choices.cancel:
                    self.http.post(
                        f"{self.origin}/dashboard/app/{self.partner_id}/cancel",
                        data={"session": session},
                    )
                return None
            fields = self.fields_for(step, page.text)
            before = step
            page = self.http.post(
                f"{self.origin}/dashboard/app/{self.partner_id}/{step}",
                data={"session": session, **fields},
            )
            if page.status_code == 303:
                if self.choices.leave_at:
                    raise Failed(f"the popup never showed a {self.choices.leave_at} page")
                return parse_redirect(page.headers["location"])
            error = text_of(ERROR_RE, page.text)
            if page.status_code != 200 or (error and text_of(STEP_RE, page.text) == before):
                raise Failed(f"the popup refused its {step} page: {error or page.status_code}")
        raise Failed(f"the popup did not end after {MAX_PAGES} pages")

    def fields_for(self, step: str, page: str) -> dict[str, str | list[str]]:
        c = self.choices
        if step == "account":
            on_login = "Log in to 360dialog" in text_of(H1_RE, page)
            if c.login is not None and c.login != on_login:
                return {"action": "show-login" if c.login else "show-signup"}
            return {"email": c.email} if on_login else {"name": c.name, "email": c.email}
        if step == "payment":
            return {"holder": c.name, "card_number": c.card, "expiry": "12/39", "cvc": "123"}
        if step == "api-key":
            choice = c.permission or self.shown_permission(page)
            if choice is None:
                raise Failed(
                    'the popup asks for API-key permission: give permission = "grant" or "deny"'
                )
            return {"api_key_permission": choice}
        if step == "numbers":
            return {"phone_number": c.numbers, "phone_name": ["" for _ in c.numbers]}
        if step == "share":
            offered = SHARE_RE.findall(page)
            unknown = (
                set(c.untick)
                - {v.partition(":")[2] for v, _, _ in offered}
                - {number for _, _, number in offered}
            )
            if unknown:
                raise Failed(f"the share page does not offer {', '.join(sorted(unknown))}")
            return {
                "share": [
                    value
                    for value, _checked, number in offered
                    if number not in c.untick and value.partition(":")[2] not in c.untick
                ]
            }
        raise Failed(f"the popup shows a page this runner does not know: {step or '?'}")

    @staticmethod
    def shown_permission(page: str) -> str | None:
        for choice in ("grant", "deny"):
            if re.search(rf'value="{choice}" id="{choice}" checked', page):
                return choice
        return None
