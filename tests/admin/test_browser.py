"""The console in a real headless browser: Debian's Chromium driven by Playwright against
Frontdesk under gunicorn (2 workers). Sign in with a printed login link, filter the audit log,
open an event, deactivate a user and watch the event appear; non-admins are refused.

The browser reports every Content-Security-Policy violation to the console; none may occur.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import expect

import config
from app.db import Database
from tests.helpers.console import ADMIN_GROUP
from tests.helpers.console import IDP_URL
from tests.helpers.console import watch_csp
from tests.helpers.factories import USER_SCHEMA
from tests.helpers.factories import make_token
from tests.helpers.saml import DemoIdP
from tests.helpers.servers import LiveServer

SCREENSHOT = os.environ.get("FRONTDESK_SCREENSHOT")  # e.g. /tmp/admin-audit.png, to look at


@pytest.fixture
def server(settings: config.Settings, server_idp: DemoIdP, db: Database,
           monkeypatch: pytest.MonkeyPatch,
           start_server: Callable[[config.Settings], LiveServer]) -> LiveServer:
    """Frontdesk under gunicorn, trusting the demo IdP, with one admin group."""
    metadata = str(server_idp.metadata_path)
    monkeypatch.setenv("FRONTDESK_SAML_IDP_METADATA", metadata)
    monkeypatch.setenv("FRONTDESK_ADMIN_GROUPS", ADMIN_GROUP)
    return start_server(dataclasses.replace(settings, saml_idp_metadata=(metadata,)))


def print_login_link(settings: config.Settings, server: LiveServer, label: str) -> str:
    """Run ``frontdesk admin login-link`` as an operator would, on the server's database."""
    frontdesk = shutil.which("frontdesk", path=str(Path(sys.executable).parent))
    assert frontdesk
    result = subprocess.run(
        [frontdesk, "admin", "login-link", "--label", label], check=True, capture_output=True,
        text=True, timeout=60,
        env={**os.environ, "FRONTDESK_DATABASE_URL": settings.database_url,
             "FRONTDESK_INSTANCE_PATH": settings.instance_path,
             "FRONTDESK_BASE_URL": server.url})
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith(f"{server.url}/admin/login/")
    return url


def scim_create_user(server: LiveServer, token: str, user_name: str) -> str:
    response = httpx.post(
        f"{server.url}/scim/v2/Users", timeout=10,
        json={"schemas": [USER_SCHEMA],
              "userName": user_name, "displayName": "Ada Lovelace"},
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


def test_admin_signs_in_filters_opens_an_event_and_deactivates_a_user(
        browser: Browser, server: LiveServer, settings: config.Settings, db: Database) -> None:
    token = make_token(db)
    user_id = scim_create_user(server, token, "ada@example.com")
    scim_create_user(server, token, "bob@example.com")
    context = browser.new_context()
    page = context.new_page()
    violations = watch_csp(page)

    # Sign in with the printed one-time link.
    page.goto(print_login_link(settings, server, "first admin"))
    expect(page).to_have_url(f"{server.url}/admin/audit")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("header")).to_contain_text("link:first admin")
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)

    # Filter the audit log through the form.
    page.get_by_label("Action").fill("user:create")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("bob@example.com")
    expect(rows.nth(1)).to_contain_text("ada@example.com")
    assert "action=user%3Acreate" in page.url or "action=user:create" in page.url

    # Open an event: its changes, old → new.
    rows.nth(1).get_by_role("link", name="#").click()
    expect(page.get_by_role("heading", name="user:create")).to_be_visible()
    expect(page.locator("#changes")).to_contain_text("userName")
    expect(page.locator("#changes")).to_contain_text("ada@example.com")

    # The target links to the user's page; deactivate with a reason.
    page.get_by_role("link", name="ada@example.com").first.click()
    expect(page).to_have_url(f"{server.url}/admin/users/{user_id}")
    page.get_by_label("Reason").fill("Left the company (HR-42)")
    page.get_by_role("button", name="Deactivate user").click()
    expect(page.locator(".flash")).to_contain_text("User deactivated")
    expect(page.get_by_role("heading", name="ada@example.com")).to_contain_text("inactive")
    expect(page.locator("#trail tbody tr").first).to_contain_text("user:deactivate")

    # The event is in the log, with the admin as actor and the reason.
    page.get_by_role("link", name="Audit log").click()
    first = page.locator("#events tbody tr").first
    expect(first).to_contain_text("user:deactivate")
    expect(first).to_contain_text("link:first admin")
    expect(first).to_contain_text("Left the company (HR-42)")

    # Users page search finds the now inactive user.
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Search", exact=True).fill("ada")
    page.locator("select[name=active]").select_option("no")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#users tbody tr")).to_have_count(1)
    expect(page.locator("#users tbody tr")).to_contain_text("inactive")

    # Sign out: the session is gone.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    page.goto(f"{server.url}/admin/audit")
    expect(page.get_by_role("heading", name="Sign in to the admin console")).to_be_visible()
    assert violations == []
    context.close()


def test_non_admins_are_refused(browser: Browser, server: LiveServer, server_idp: DemoIdP,
                                settings: config.Settings) -> None:
    context = browser.new_context()
    page = context.new_page()
    violations = watch_csp(page)

    # Nobody signed in.
    response = page.goto(f"{server.url}/admin/users")
    assert response is not None and response.status == 401
    expect(page.get_by_role("heading", name="Sign in to the admin console")).to_be_visible()
    expect(page.get_by_text("frontdesk admin login-link", exact=True)).to_be_visible()

    # A used link does not work twice, not even in another browser.
    link = print_login_link(settings, server, "once")
    page.goto(link)
    expect(page).to_have_url(f"{server.url}/admin/audit")
    other = browser.new_context().new_page()
    response = other.goto(link)
    assert response is not None and response.status == 403
    expect(other.get_by_role("heading", name="Link not valid")).to_be_visible()
    other.context.close()

    # A real SAML sign-in of someone outside the admin groups: signed in, but refused.
    idp = DemoIdP.for_frontdesk(server_idp.workdir, IDP_URL, server.url)
    saml_response = idp.response("mallory@example.com", {"email": ["mallory@example.com"]})
    fresh = browser.new_context().new_page()
    fresh.set_content(f'<form method="post" action="{server.url}/saml/acs">'
                      f'<input type="hidden" name="SAMLResponse" value="{saml_response}">'
                      '<button type="submit">Continue</button></form>')
    fresh.get_by_role("button", name="Continue").click()
    expect(fresh).to_have_url(f"{server.url}/me")
    expect(fresh.get_by_role("heading", name="Signed in as")).to_be_visible()
    response = fresh.goto(f"{server.url}/admin/audit")
    assert response is not None and response.status == 403
    expect(fresh.get_by_role("heading", name="Not an admin")).to_be_visible()
    fresh.context.close()
    assert violations == []
    context.close()


PHONE = {"width": 390, "height": 844}  # an iPhone 12-15 in portrait, CSS pixels


def assert_no_sideways_scroll(page: Page) -> None:
    """The page is no wider than the phone: nothing to scroll to sideways."""
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] == PHONE["width"], f"{page.url}: {widths}"


def test_the_console_fits_a_phone(browser: Browser, server: LiveServer,
                                  settings: config.Settings, db: Database) -> None:
    token = make_token(db)
    user_id = scim_create_user(server, token, "äda.lovelace-with-a-rather-long-name@example.com")
    response = httpx.patch(
        f"{server.url}/scim/v2/Users/{user_id}", timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "add", "value": {
                "emails": [{"value": "äda.lovelace-with-a-rather-long-name@example.com",
                            "type": "work", "primary": True},
                           {"value": "strauß@home.example", "type": "home"}],
                "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "mobile"}],
                "addresses": [{"type": "work", "streetAddress": "1 Analytical Engine Straße",
                               "locality": "London", "country": "GB"}]}}]})
    assert response.status_code == 200, response.text
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    violations = watch_csp(page)
    page.goto(print_login_link(settings, server, "phone admin"))

    page.goto(f"{server.url}/admin/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert_no_sideways_scroll(page)
    for name in ("Find a user", "Access requests"):
        expect(page.locator("main").get_by_role("link", name=name)).to_be_in_viewport()
    expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT.replace(".png", "-phone-overview.png"), full_page=True)

    page.locator("main").get_by_role("link", name="Find a user").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    assert_no_sideways_scroll(page)
    expect(page.get_by_role("button", name="Search")).to_be_visible()
    expect(page.locator("#total")).to_have_text("1 user")
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT.replace(".png", "-phone-users.png"), full_page=True)

    page.get_by_role("link", name="äda.lovelace-with-a-rather-long-name@example.com").click()
    expect(page).to_have_url(f"{server.url}/admin/users/{user_id}")
    assert_no_sideways_scroll(page)
    actions = page.locator("#user-actions")
    expect(actions).to_be_in_viewport()
    expect(actions.get_by_role("link", name="Deactivate…")).to_be_in_viewport()
    expect(page.locator("#attributes")).to_contain_text("strauß@home.example (home)")
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT.replace(".png", "-phone-user.png"), full_page=True)
    # The action leads to the form, last on the page, and works there.
    actions.get_by_role("link", name="Deactivate…").click()
    expect(page.get_by_role("button", name="Deactivate user")).to_be_in_viewport()
    page.get_by_label("Reason").fill("Phone test")
    page.get_by_role("button", name="Deactivate user").click()
    expect(page.locator(".flash")).to_contain_text("User deactivated")
    assert_no_sideways_scroll(page)
    assert violations == []
    context.close()
