"""The access pages in a real headless browser: Debian's Chromium driven by Playwright against
Frontdesk under gunicorn (2 workers), the test policies in its TOML file. A requester signs in
through the demo IdP, checks and files a request through the form; an approver signs in in
another browser context and approves from the inbox, beside the requester's access; the
requester sees the grant on her page; an admin finds it in the console and revokes it.

Every page is screenshotted into the test's tmp dir (desktop, and 390 px wide like a phone).
The browser reports every Content-Security-Policy violation to the console; none may occur.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import Page
from playwright.sync_api import expect

import config
from app.db import Database
from tests.access.conftest import Cast
from tests.helpers.access import POLICIES
from tests.helpers.console import ADMIN_GROUP
from tests.helpers.console import IDP_URL
from tests.helpers.console import watch_csp
from tests.helpers.saml import DemoIdP
from tests.helpers.servers import LiveServer

pytestmark = pytest.mark.gunicorn  # every test here serves through gunicorn
PHONE = {"width": 390, "height": 844}


def policies_toml(path: Path) -> Path:
    """Write the test policies as the TOML file an operator would (JSON values are TOML)."""
    lines = []
    for name, table in POLICIES.items():
        lines.append(f"[access.policies.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def server(settings: config.Settings, server_idp: DemoIdP, db: Database, cast: Cast,
           root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """Frontdesk under gunicorn with the test policies, trusting the demo IdP, one admin group;
    the cast (and an admin) already in its database."""
    metadata = str(server_idp.metadata_path)
    monkeypatch.setenv("FRONTDESK_CONFIG", str(policies_toml(tmp_path / "frontdesk.toml")))
    monkeypatch.setenv("FRONTDESK_SAML_IDP_METADATA", metadata)
    monkeypatch.setenv("FRONTDESK_ADMIN_GROUPS", ADMIN_GROUP)
    live = LiveServer(dataclasses.replace(settings, saml_idp_metadata=(metadata,)))
    yield live
    live.stop()


class Person:
    """One browser context signed in as one person, its CSP violations, its screenshots."""

    def __init__(self, browser: Browser, server: LiveServer, idp: DemoIdP, email: str,
                 shots: Path, *, phone: bool = False) -> None:
        self.server, self.shots, self.suffix = server, shots, "-390" if phone else ""
        self.context: BrowserContext = browser.new_context(
            viewport=PHONE if phone else {"width": 1280, "height": 800})
        self.page: Page = self.context.new_page()
        self.violations = watch_csp(self.page)
        # A signed assertion from the demo IdP, posted to the ACS as the IdP's page would.
        sso = DemoIdP.for_frontdesk(idp.workdir, IDP_URL, server.url)
        response = sso.response(email, {"email": [email]})
        self.page.set_content(f'<form method="post" action="{server.url}/saml/acs">'
                              f'<input type="hidden" name="SAMLResponse" value="{response}">'
                              '<button type="submit">Continue</button></form>')
        self.page.get_by_role("button", name="Continue").click()
        expect(self.page).to_have_url(f"{server.url}/me")

    def open(self, path: str) -> Page:
        response = self.page.goto(f"{self.server.url}{path}")
        assert response is not None and response.status == 200, path
        return self.page

    def shoot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}{self.suffix}.png"), full_page=True)



@pytest.fixture
def sign_in(browser: Browser, server: LiveServer, server_idp: DemoIdP,
            tmp_path: Path) -> Iterator[Callable[..., Person]]:
    """Open a browser context signed in as someone (``phone=True``: 390 px wide); at the end,
    no page of any of them may have broken the Content-Security-Policy."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    people: list[Person] = []

    def person(email: str, *, phone: bool = False) -> Person:
        people.append(Person(browser, server, server_idp, email, shots, phone=phone))
        return people[-1]

    yield person
    for someone in people:
        someone.context.close()
    assert [v for someone in people for v in someone.violations] == []


def test_request_approve_and_see_the_grant_in_two_browsers(
        sign_in: Callable[..., Person], server: LiveServer) -> None:
    ada = sign_in("äda@example.com")
    bob = sign_in("bob@example.com")

    # The requester: nothing granted yet; the form offers what policy lets her ask for.
    page = ada.open("/access/")
    expect(page.get_by_role("heading", name="My access")).to_be_visible()
    expect(page.locator("#memberships tbody tr")).to_have_count(1)
    expect(page.locator("#memberships")).to_contain_text("engineering")
    page.get_by_role("link", name="Request access").first.click()
    expect(page.locator("#offers tbody tr")).to_have_count(4)
    page.get_by_role("row", name="prod-db-readers").get_by_role("link", name="Choose").click()
    expect(page.get_by_label("Group")).to_have_value("prod-db-readers")
    page.get_by_label("Duration").fill("2h")
    page.get_by_label("Reason").fill("Slow queries on orders (INC-7)")
    page.get_by_label("Ticket").fill("INC-7")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#decision")).to_contain_text("this needs approval")
    expect(page.locator("#decision")).to_contain_text("1 approval by members of sre-leads")
    ada.shoot("request-check")
    page.get_by_role("button", name="Request access").click()
    expect(page).to_have_url(f"{server.url}/access/requests")
    expect(page.locator(".flash")).to_contain_text("waiting for 1 approval(s)")
    expect(page.locator("#requests tbody tr")).to_have_count(1)
    expect(page.locator("#requests tbody tr").first).to_contain_text("pending")
    ada.shoot("my-requests-pending")

    # The approver, in another browser: the request beside her access; approve with a reason.
    page = bob.open("/access/inbox")
    card = page.locator("#pending article")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("äda@example.com asks for prod-db-readers")
    expect(card).to_contain_text("Slow queries on orders (INC-7)")
    expect(card.locator(".beside")).to_contain_text("engineering")
    bob.shoot("inbox")
    card.get_by_label("Reason").fill("Go ahead")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash")).to_contain_text("Approved: äda@example.com → prod-db-readers")
    expect(page.locator("#pending")).to_contain_text("Nothing is waiting for you.")

    # The requester sees the grant, with its end, on her page.
    page = ada.open("/access/")
    granted = page.get_by_role("row", name="prod-db-readers")
    expect(granted).to_contain_text("granted")
    expect(granted).to_contain_text("left")
    expect(granted.get_by_role("button", name="I'm done")).to_be_visible()
    ada.shoot("my-access")
    page = ada.open("/access/requests")
    expect(page.locator("#requests tbody tr").first).to_contain_text("approved")
    expect(page.locator("#requests tbody tr").first).to_contain_text("active until")
    ada.shoot("my-requests")

    # The same pages on a phone.
    phone = sign_in("äda@example.com", phone=True)
    for path, name in (("/access/", "my-access"), ("/access/request?group=prod-db-readers",
                                                   "request"), ("/access/requests",
                                                                "my-requests")):
        phone.open(path)
        phone.shoot(name)
    bob_phone = sign_in("bob@example.com", phone=True)
    ask = bob_phone.open("/access/request")
    ask.get_by_label("Group").select_option("sandbox-1")
    ask.get_by_role("button", name="Request access").click()
    expect(ask.locator(".flash")).to_contain_text("Asked for sandbox-1")
    cyd_phone = sign_in("cyd@example.com", phone=True)
    cyd_phone.open("/access/inbox")
    cyd_phone.shoot("inbox")


def test_an_admin_finds_the_grant_in_the_console_and_revokes_it(
        sign_in: Callable[..., Person], server: LiveServer) -> None:
    dee = sign_in("dee@example.com")
    page = dee.open("/access/request?group=prod-db-readers")
    page.get_by_label("Reason").fill("On call: checking replication")
    page.get_by_label("Ticket").fill("INC-8")
    page.get_by_role("button", name="Request access").click()
    expect(page.locator(".flash")).to_contain_text("Approved at once")

    admin = sign_in("root@example.com")
    page = admin.open("/admin/audit")
    page.get_by_role("link", name="Access", exact=True).click()
    expect(page).to_have_url(f"{server.url}/admin/access/requests")
    expect(page.locator("#requests tbody tr")).to_have_count(1)
    admin.shoot("admin-requests")
    page.get_by_role("link", name="details").click()
    expect(page.locator("#trail tbody tr")).to_have_count(3)
    expect(page.locator("#grants tbody tr")).to_contain_text("active")
    admin.shoot("admin-request")
    page.get_by_role("link", name="dee@example.com").first.click()
    expect(page.locator("#grants tbody tr")).to_contain_text("prod-db-readers")
    admin.shoot("admin-user")
    page.get_by_role("link", name="Access", exact=True).click()
    page.get_by_role("link", name="Grants", exact=True).click()
    admin.shoot("admin-grants")
    row = page.locator("#grants tbody tr").first
    row.get_by_label("Reason for revoking").fill("Incident over")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".flash")).to_contain_text("Revoked: dee@example.com")
    expect(page.locator("#grants tbody tr").first).to_contain_text("revoked")

    page = dee.open("/access/")
    expect(page.locator("#memberships")).not_to_contain_text("prod-db-readers")
    phone = sign_in("root@example.com", phone=True)
    phone.open("/admin/access/grants")
    phone.shoot("admin-grants")
