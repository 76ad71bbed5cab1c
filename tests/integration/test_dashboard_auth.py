"""Operators log in and out of the dashboard; everyone else is sent to the login page."""

from __future__ import annotations

import asyncio
import subprocess

from onboard360.db.pooling import one_off_async_engine
from onboard360.services import source
from onboard360.services.accounts import set_operator_password
from onboard360.web.dashboard.sessions import COOKIE
from tests.cli_process import run_onboard360
from tests.integration.dashboard_http import (
    PASSWORD,
    Dashboard,
    audit_rows,
    forms,
    logged_in,
    make_operator,
    sql,
)
from tests.stack import Stack

REFUSAL = "Wrong email or password"


def test_operator_logs_in_sees_the_overview_and_logs_out(stack: Stack) -> None:
    with logged_in(stack, "ops@example.test") as dashboard:
        page = dashboard.get("/dashboard")
        assert page.status_code == 200
        assert "ops@example.test" in page.text
        cookie = dashboard.http.cookies[COOKIE]

        assert dashboard.logout().headers["location"] == "/dashboard/login?bye=1"
        assert dashboard.get("/dashboard").status_code == 303
        # The session row is gone: the old cookie, replayed, is worth nothing.
        dashboard.http.cookies.set(COOKIE, cookie, path="/dashboard")
        assert dashboard.get("/dashboard").headers["location"] == "/dashboard/login"
    assert [r.action for r in audit_rows(stack, "login")] == ["login"]
    assert len(audit_rows(stack, "logout")) == 1


def test_session_cookie_is_httponly_and_samesite_lax(stack: Stack) -> None:
    make_operator(stack, "cookie@example.test")
    with Dashboard(stack) as dashboard:
        answer = dashboard.login("cookie@example.test")
    header = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(COOKIE))
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    assert "Path=/dashboard" in header
    assert "Secure" not in header  # the stack is plain http; https turns Secure on


def test_every_page_without_a_session_redirects_to_login(stack: Stack) -> None:
    with Dashboard(stack) as anonymous:
        for path in (
            "/dashboard",
            "/dashboard/search?q=x",
            "/dashboard/clients/pp/CL1",
            "/dashboard/attention/stuck?hub=pp",
            "/dashboard/actions/rotate-key?hub=pp&channel=C1",
        ):
            answer = anonymous.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/dashboard/login"), path
        post = anonymous.http.post("/dashboard/actions/reconcile", data={"hub": "pp"})
        assert post.status_code == 303
        assert post.headers["location"].startswith("/dashboard/login")


def test_login_returns_to_the_page_asked_for_but_never_to_another_site(stack: Stack) -> None:
    make_operator(stack, "next@example.test")
    with Dashboard(stack) as dashboard:
        asked = dashboard.get("/dashboard/search", q="abc")
        assert asked.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Fsearch%3Fq%3Dabc"
        page = dashboard.http.get(asked.headers["location"])
        fields = forms(page)["/dashboard/login"]
        assert fields["next"] == "/dashboard/search?q=abc"
        fields["next"] = "//evil.example/steal"
        answer = dashboard.http.post(
            "/dashboard/login", data={**fields, "email": "next@example.test", "password": PASSWORD}
        )
        assert answer.headers["location"] == "/dashboard"


def test_wrong_password_and_unknown_email_get_the_same_answer(stack: Stack) -> None:
    make_operator(stack, "real@example.test")
    with Dashboard(stack) as dashboard:
        wrong = dashboard.login("real@example.test", "not the password at all")
        unknown = dashboard.login("nobody@example.test", "not the password at all")
        assert wrong.headers["location"] == unknown.headers["location"]
        page = dashboard.http.get(wrong.headers["location"])
        assert REFUSAL in page.text
        assert dashboard.get("/dashboard").status_code == 303
    assert sql(stack, "SELECT count(*) AS n FROM operator_sessions")[0].n == 0


def test_five_failures_lock_the_account_even_for_the_right_password(stack: Stack) -> None:
    make_operator(stack, "locked@example.test")
    with Dashboard(stack) as dashboard:
        for _ in range(5):
            dashboard.login("locked@example.test", "wrong password, again")
        answer = dashboard.login("locked@example.test")
        assert "failed=1" in answer.headers["location"]
        assert REFUSAL in dashboard.http.get(answer.headers["location"]).text
    (row,) = sql(stack, "SELECT locked_until > now() AS locked FROM operators")
    assert row.locked
    assert len(audit_rows(stack, "login_locked")) == 1

    # When the lock runs out, the right password works again.
    sql(stack, "UPDATE operators SET locked_until = now() - interval '1 second'")
    with Dashboard(stack) as dashboard:
        assert dashboard.login("locked@example.test").headers["location"] == "/dashboard"


def test_disabled_operator_cannot_log_in_and_loses_open_sessions(stack: Stack) -> None:
    with logged_in(stack, "gone@example.test") as dashboard:
        sql(stack, "UPDATE operators SET disabled = true")
        assert dashboard.get("/dashboard").status_code == 303
        answer = dashboard.login("gone@example.test")
        assert "failed=1" in answer.headers["location"]


def test_forged_and_expired_session_cookies_redirect_to_login(stack: Stack) -> None:
    with Dashboard(stack) as forged:
        forged.http.cookies.set(COOKIE, "forged-token-" + "x" * 30, path="/dashboard")
        assert forged.get("/dashboard").headers["location"] == "/dashboard/login"
    with logged_in(stack, "expired@example.test") as dashboard:
        sql(stack, "UPDATE operator_sessions SET expires_at = now() - interval '1 second'")
        assert dashboard.get("/dashboard").headers["location"] == "/dashboard/login"
    with logged_in(stack, "idle@example.test") as dashboard:
        sql(stack, "UPDATE operator_sessions SET last_seen_at = now() - interval '3 hours'")
        assert dashboard.get("/dashboard").headers["location"] == "/dashboard/login"


def test_post_without_the_csrf_token_is_refused_and_changes_nothing(stack: Stack) -> None:
    with logged_in(stack, "csrf@example.test") as dashboard:
        for token in (None, "wrong-token", ""):
            data = {"hub": "pp", "client": "CL1", "confirm": "yes"}
            if token is not None:
                data["csrf_token"] = token
            assert dashboard.http.post("/dashboard/actions/reconcile", data=data).status_code == 403
            logout = dashboard.http.post("/dashboard/logout", data=data)
            assert logout.status_code == 403
            assert dashboard.get("/dashboard").status_code == 200  # still logged in
        link = dashboard.http.post("/dashboard/links/new", data={"hub": "pp", "client": "CL1"})
        assert link.status_code == 403
    assert sql(stack, "SELECT count(*) AS n FROM onboardings")[0].n == 0
    actions = {r.action for r in sql(stack, "SELECT action FROM audit_log")}
    assert actions == {"operator_created", "login"}


def test_login_form_without_its_csrf_token_is_refused(stack: Stack) -> None:
    make_operator(stack, "form@example.test")
    with Dashboard(stack) as dashboard:
        answer = dashboard.http.post(
            "/dashboard/login", data={"email": "form@example.test", "password": PASSWORD}
        )
        assert answer.status_code == 403
        assert COOKIE not in dashboard.http.cookies


def test_many_attempts_for_one_email_are_rate_limited_whether_it_exists_or_not(
    stack: Stack,
) -> None:
    make_operator(stack, "limited@example.test")
    with Dashboard(stack) as dashboard:
        for _ in range(10):
            dashboard.login("nobody-here@example.test", "guess guess guess")
        # The eleventh try for that email is refused before any password is checked.
        answer = dashboard.login("nobody-here@example.test", "guess guess guess")
        assert "failed=1" in answer.headers["location"]
        # Another email is not affected.
        assert dashboard.login("limited@example.test").headers["location"] == "/dashboard"


def test_pages_say_not_to_cache_frame_or_leak_referrers(stack: Stack) -> None:
    with logged_in(stack, "headers@example.test") as dashboard:
        page = dashboard.get("/dashboard")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["content-security-policy"]


def users_cli(stack: Stack, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_onboard360("users", *args, env=stack.env(), stdin=stdin, timeout=60)


def test_users_commands_create_list_and_disable_operators(stack: Stack) -> None:
    made = users_cli(stack, "create", "New.Op@Example.test", "--password-stdin", stdin=PASSWORD)
    assert made.returncode == 0, made.stderr
    assert "new.op@example.test" in made.stdout
    again = users_cli(stack, "create", "new.op@example.test", "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 2
    assert "exists already" in again.stderr
    short = users_cli(stack, "create", "b@example.test", "--password-stdin", stdin="short")
    assert short.returncode == 2
    assert "at least 12 characters" in short.stderr

    with Dashboard(stack) as dashboard:
        assert dashboard.login("NEW.OP@example.test").headers["location"] == "/dashboard"
        assert "new.op@example.test\tactive" in users_cli(stack, "list").stdout
        disabled = users_cli(stack, "disable", "new.op@example.test")
        assert disabled.returncode == 0, disabled.stderr
        assert dashboard.get("/dashboard").status_code == 303  # the session ended at once
    assert "new.op@example.test\tdisabled" in users_cli(stack, "list").stdout
    assert users_cli(stack, "disable", "nobody@example.test").returncode == 2
    audited = sql(stack, "SELECT detail::text AS d FROM audit_log")
    assert all(PASSWORD not in row.d for row in audited)
    (row,) = sql(stack, "SELECT password_hash FROM operators")
    assert row.password_hash.startswith("$argon2id$")


def test_setting_the_password_again_reenables_unlocks_and_ends_old_sessions(stack: Stack) -> None:
    """What `onboard360 demo` does to its operator on every start."""
    new_password = "a new password for the demo"

    async def set_password() -> None:
        engine = one_off_async_engine(stack.database_url)
        try:
            await set_operator_password(
                engine, "Demo@example.test", new_password, source=source.CLI
            )
        finally:
            await engine.dispose()

    with logged_in(stack, "demo@example.test") as before:
        sql(stack, "UPDATE operators SET disabled = true, locked_until = now() + interval '1h'")
        asyncio.run(set_password())
        assert before.get("/dashboard").status_code == 303  # its session is gone
    with Dashboard(stack) as dashboard:
        assert "failed=1" in dashboard.login("demo@example.test").headers["location"]
        assert dashboard.login("demo@example.test", new_password).headers["location"] == (
            "/dashboard"
        )
    (row,) = sql(stack, "SELECT count(*) AS n, bool_or(disabled) AS disabled FROM operators")
    assert (row.n, row.disabled) == (1, False)
    assert [r.target for r in audit_rows(stack, "operator_password_set")] == [
        "operator:demo@example.test"
    ]
