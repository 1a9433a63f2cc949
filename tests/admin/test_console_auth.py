"""Who gets into the console: login links, SSO admins, everyone else refused; CSRF; headers."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from flask.testing import FlaskClient

from app.admins import create_login_link
from app.audit.events import Actor
from app.db import Database
from app.uow import UnitOfWork
from tests.helpers.audit import events
from tests.helpers.clients import BASE_URL
from tests.helpers.clients import ScimClient
from tests.helpers.console import ADMIN_GROUP
from tests.helpers.console import csrf_of
from tests.helpers.console import login_link
from tests.helpers.console import sign_in_with_link
from tests.helpers.console import sso_login
from tests.helpers.console import text_of
from tests.helpers.factories import create_group
from tests.helpers.factories import create_user
from tests.helpers.saml import DemoIdP

PAGES = ["/admin/", "/admin/audit", "/admin/users", "/admin/groups", "/admin/audit/1",
         "/admin/users/x", "/admin/groups/x"]


# -- nobody signed in -------------------------------------------------------------------------

def test_every_page_needs_a_sign_in(client: FlaskClient) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 401, path
        body = text_of(response)
        assert "frontdesk admin login-link" in body
        assert "/saml/login?next=" in body
    response = client.post("/admin/users/x/active", data={"active": "false", "reason": "r"})
    assert response.status_code == 401
    assert client.post("/admin/logout").status_code == 401


def test_unknown_admin_path_is_an_html_404(admin: FlaskClient) -> None:
    response = admin.get("/admin/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# -- login links ------------------------------------------------------------------------------

def test_login_link_signs_in_once_and_is_audited(client: FlaskClient, runner: CliRunner,
                                                 db: Database) -> None:
    path = login_link(runner, "break-glass")

    response = client.get(path)

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/audit"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/admin/audit")
    assert page.status_code == 200
    assert "link:break-glass" in text_of(page)
    [created] = events(db, "admin:login-link:create")
    assert created.actor_kind == "cli"
    [login] = events(db, "admin:login")
    assert (login.actor_kind, login.actor_label) == ("admin", "link:break-glass")
    assert login.changes == {"via": [None, "login-link"]}

    again = client.get(path)  # a second use, even from the same browser

    assert again.status_code == 403
    assert "already used or expired" in text_of(again)
    [denied] = events(db, "admin:login:denied")
    assert denied.outcome == "denied"
    assert denied.reason == "invalid_link"
    assert denied.actor_kind == "anonymous"


def test_a_made_up_link_is_refused_and_audited(client: FlaskClient, db: Database) -> None:
    for secret in ("nope", "x" * 200):
        response = client.get(f"/admin/login/{secret}")
        assert response.status_code == 403
    assert len(events(db, "admin:login:denied")) == 2
    assert client.get("/admin/audit").status_code == 401


def test_an_expired_link_is_refused(client: FlaskClient, db: Database) -> None:
    with UnitOfWork(db) as uow:
        _, secret = create_login_link(uow, "late", actor=Actor("test", "t", "test"),
                                      ttl=timedelta(seconds=-1))

    assert client.get(f"/admin/login/{secret}").status_code == 403
    assert client.get("/admin/audit").status_code == 401


def test_login_replaces_the_previous_session(client: FlaskClient, runner: CliRunner) -> None:
    with client.session_transaction(base_url=BASE_URL) as sess:
        sess["planted"] = "by an attacker"
        sess["csrf"] = "known-token"
    sign_in_with_link(client, runner)
    with client.session_transaction(base_url=BASE_URL) as sess:
        assert "planted" not in sess
        assert sess["csrf"] != "known-token"


def test_sign_out_needs_csrf_then_ends_the_session(admin: FlaskClient, db: Database) -> None:
    assert admin.post("/admin/logout", data={"csrf": "wrong"}).status_code == 400
    assert admin.get("/admin/audit").status_code == 200

    token = csrf_of(text_of(admin.get("/admin/audit")))
    response = admin.post("/admin/logout", data={"csrf": token})

    assert response.status_code == 200
    assert "signed out" in text_of(response)
    assert admin.get("/admin/audit").status_code == 401
    [logout] = events(db, "admin:logout")
    assert logout.actor_label == "link:first admin"


# -- SSO --------------------------------------------------------------------------------------

def test_sso_user_in_the_admin_group_gets_in_until_removed(
        client: FlaskClient, idp: DemoIdP, scim: ScimClient, db: Database) -> None:
    group_id = create_group(scim, ADMIN_GROUP)
    sso_login(client, idp, "grace@example.com", [ADMIN_GROUP])

    page = client.get("/admin/audit")

    assert page.status_code == 200
    assert "grace@example.com" in text_of(page)
    [user] = scim.get('/Users?filter=userName eq "grace@example.com"').get_json()["Resources"]
    # Admin rights are checked on every request: leaving the group ends them at once.
    response = scim.patch(f"/Groups/{group_id}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": f'members[value eq "{user["id"]}"]'}]})
    assert response.status_code in (200, 204)
    refused = client.get("/admin/audit")
    assert refused.status_code == 403
    assert "not in an admin group" in text_of(refused)


def test_sso_user_outside_the_admin_groups_is_refused(
        client: FlaskClient, idp: DemoIdP, scim: ScimClient) -> None:
    create_group(scim, ADMIN_GROUP)
    create_group(scim, "Staff")
    sso_login(client, idp, "mallory@example.com", ["Staff"])
    me = client.get("/me")
    assert me.status_code == 200  # signed in, just not an admin
    assert "Admin console" not in text_of(me)

    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert client.get("/api/audit").status_code == 401


def test_an_sso_admin_finds_the_console_from_me_and_the_sign_in_link_returns_there(
        client: FlaskClient, idp: DemoIdP, scim: ScimClient) -> None:
    refused = text_of(client.get("/admin/users"))
    assert 'href="/saml/login?next=/admin/users">Sign in with single sign-on' in refused
    create_group(scim, ADMIN_GROUP)
    sso_login(client, idp, "grace@example.com", [ADMIN_GROUP])
    me = text_of(client.get("/me"))
    assert '<p id="admin-console"><a href="/admin/">Admin console »</a>' in me


def test_sso_admin_cannot_deactivate_themselves(
        client: FlaskClient, idp: DemoIdP, scim: ScimClient) -> None:
    create_group(scim, ADMIN_GROUP)
    sso_login(client, idp, "grace@example.com", [ADMIN_GROUP])
    [user] = scim.get('/Users?filter=userName eq "grace@example.com"').get_json()["Resources"]
    page = client.get(f"/admin/users/{user['id']}")
    response = client.post(f"/admin/users/{user['id']}/active", data={
        "csrf": csrf_of(text_of(page)), "active": "false", "reason": "oops"})
    assert response.status_code == 400
    assert "your own account" in text_of(response)
    assert scim.get(f"/Users/{user['id']}").get_json()["active"] is True


# -- CSRF -------------------------------------------------------------------------------------

def test_posts_without_the_session_csrf_token_change_nothing(
        admin: FlaskClient, scim: ScimClient, db: Database) -> None:
    user_id = create_user(scim, "ada@example.com")
    for data in ({}, {"csrf": ""}, {"csrf": "forged"}):
        response = admin.post(f"/admin/users/{user_id}/active",
                              data={**data, "active": "false", "reason": "left"})
        assert response.status_code == 400
        assert "CSRF" in text_of(response)
    assert scim.get(f"/Users/{user_id}").get_json()["active"] is True
    assert events(db, "user:deactivate") == []


def test_every_form_carries_the_csrf_token(admin: FlaskClient, scim: ScimClient) -> None:
    user_id = create_user(scim, "ada@example.com")
    body = text_of(admin.get(f"/admin/users/{user_id}"))
    with admin.session_transaction(base_url=BASE_URL) as sess:
        token = sess["csrf"]
    forms = body.split("<form")[1:]
    post_forms = [f for f in forms if 'method="post"' in f.split(">", 1)[0]]
    assert len(post_forms) == 2  # sign out, deactivate
    for form in post_forms:
        assert f'name="csrf" value="{token}"' in form


# -- headers ----------------------------------------------------------------------------------

def test_console_and_sign_in_pages_send_security_headers(admin: FlaskClient,
                                                         client: FlaskClient) -> None:
    for path in ("/admin/audit", "/admin/users", "/admin/groups", "/admin/login/bad", "/me"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "script-src" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
        body = text_of(response)
        # The policy allows no inline code or style: the pages must not need any.
        assert "<script" not in body and "<style" not in body and " style=" not in body


def test_the_stylesheet_is_served_from_the_app(client: FlaskClient) -> None:
    with client.get("/static/frontdesk.css") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/css"
        assert "body.shell" in text_of(response)  # the console's (and /access's) layout
