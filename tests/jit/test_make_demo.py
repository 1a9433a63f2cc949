"""``make demo`` as a new user runs it: on free ports, with its own SQLite file, then Chromium
follows what it prints. The console instruction must work as printed, and the groups typed at
the demo IdP must exist in Frontdesk afterwards (the demo creates unknown groups)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from queue import Queue

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import expect

from app.db import Database
from tests.helpers.console import watch_csp
from tests.helpers.reads import group_names
from tests.helpers.reads import memberships
from tests.helpers.reads import user_by_name
from tests.helpers.servers import ROOT
from tests.helpers.servers import START_TIMEOUT
from tests.helpers.servers import free_port

CONSOLE_LINE = re.compile(r"Admin console: open (http://127\.0\.0\.1:\d+/admin/) ")


class Demo:
    """``make demo`` in its own process group, its output read line by line."""

    def __init__(self, tmp_path: Path) -> None:
        self.sp_port, self.idp_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        env.update({"FRONTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
                    "FRONTDESK_INSTANCE_PATH": str(tmp_path / "instance"),
                    "FRONTDESK_WORKERS": "1"})
        self.database_url = env["FRONTDESK_DATABASE_URL"]
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "demo", f"DEMO_PORT={self.sp_port}",
             f"DEMO_IDP_PORT={self.idp_port}", f"DEMO_IDP_DIR={tmp_path / 'idp'}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.lines: Queue[str] = Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """The first output line matching ``pattern`` (start-up takes seconds, not minutes)."""
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT)
            except Empty:
                raise AssertionError("make demo printed nothing more:\n"
                                     + "".join(self.output)) from None
            self.output.append(line)
            match = pattern.search(line)
            if match:
                return match

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)  # make, the IdP and gunicorn: ours only
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path)
    yield running
    running.stop()


def test_make_demo_prints_a_console_way_in_that_works(browser: Browser, demo: Demo) -> None:
    admin_url = demo.wait_for(CONSOLE_LINE).group(1)
    assert admin_url == f"http://127.0.0.1:{demo.sp_port}/admin/"
    demo.wait_for(re.compile("Or a one-time console link"))
    printed = "".join(demo.output)
    assert f"Demo: open http://127.0.0.1:{demo.idp_port}/ (IdP-initiated sign-in)" in printed
    assert "'demo-admins', the demo's admin group" in printed
    assert (f"FRONTDESK_BASE_URL=http://127.0.0.1:{demo.sp_port} .venv/bin/frontdesk admin "
            "login-link") in printed

    context = browser.new_context()
    page = context.new_page()
    violations = watch_csp(page)
    # As printed: open the console, sign in with single sign-on, submit the form as filled in.
    response = page.goto(admin_url)
    assert response is not None and response.status == 401
    page.get_by_role("link", name="Sign in with single sign-on").click()
    expect(page).to_have_url(re.compile(rf"http://127\.0\.0\.1:{demo.idp_port}/sso\?"))
    expect(page.get_by_label("Email (becomes the NameID)")).to_have_value("ada@example.com")
    expect(page.get_by_label("Groups, comma-separated")).to_have_value("demo-admins, Engineering")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(admin_url)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("header")).to_contain_text("ada@example.com")
    expect(page.locator("#totals")).to_contain_text("1 user 1 active")
    expect(page.locator("#totals")).to_contain_text("2 groups")
    # /me, where an IdP-initiated sign-in lands, points admins at the console too.
    page.goto(f"http://127.0.0.1:{demo.sp_port}/me")
    expect(page.locator("#admin-console")).to_contain_text("Admin console")
    assert violations == []
    context.close()

    db = Database(demo.database_url)
    try:
        assert group_names(db) == {"demo-admins", "Engineering"}
        user = user_by_name(db, "ada@example.com")
        assert user is not None
        assert set(memberships(db, user.id)) == {"demo-admins", "Engineering"}
    finally:
        db.dispose()
