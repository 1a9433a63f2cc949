"""The console's user page shows the lifecycle state and last activity, and an admin lifts a
suspension there with a required reason (audited with the admin)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from click.testing import CliRunner
from flask import Flask

import config
from app.clock import FrozenClock
from app.jobs import run_due
from app.web.context import get_db
from tests.helpers.access import events
from tests.helpers.console import csrf_of
from tests.helpers.console import sign_in_with_link
from tests.helpers.console import text_of
from tests.helpers.lifecycle import make_user
from tests.helpers.lifecycle import set_created
from tests.helpers.lifecycle import user
from tests.helpers.lifecycle import with_rules

RULE = {"default": {"inactive_for": "30d", "warn_before": "0s", "new_account_grace": "0s"}}


def test_the_user_page_shows_state_and_lifts_a_suspension(
        make_app: Callable[..., Flask], settings: config.Settings, app: Flask,
        runner: CliRunner, clock: FrozenClock) -> None:
    ruled = make_app(with_rules(settings, RULE))
    db = get_db(ruled)
    db.clock = clock
    uid = make_user(db, "Strauß@example.com")
    set_created(db, uid, clock.now() - timedelta(days=31))
    console = ruled.test_client()
    sign_in_with_link(console, runner)

    page = text_of(console.get(f"/admin/users/{uid}"))
    assert '<td id="state" class="state state-active">active</td>' in page
    assert '<td id="last-activity">never (counted from creation)</td>' in page
    assert 'id="unsuspend"' not in page

    assert run_due(db).suspended == 1
    page = text_of(console.get(f"/admin/users/{uid}"))
    assert ">suspended since " in page and "dormant rule &#39;default&#39;" in page
    csrf = csrf_of(page.split('id="unsuspend"', 1)[1])
    refused = console.post(f"/admin/users/{uid}/unsuspend", data={"csrf": csrf, "reason": " "})
    assert refused.status_code == 400
    assert "A reason is required" in text_of(refused)
    assert user(db, uid).suspended_at is not None
    forged = console.post(f"/admin/users/{uid}/unsuspend", data={"csrf": "x", "reason": "ok"})
    assert forged.status_code == 400 and user(db, uid).suspended_at is not None

    lifted = console.post(f"/admin/users/{uid}/unsuspend",
                          data={"csrf": csrf, "reason": "Strauß is back"})
    assert (lifted.status_code, lifted.headers["Location"]) == (303, f"/admin/users/{uid}")
    assert user(db, uid).suspended_at is None
    assert [(e.actor_label, e.reason) for e in events(db, "user:unsuspend")] == [
        ("link:first admin", "Strauß is back")]
    page = text_of(console.get(f"/admin/users/{uid}"))
    assert '<td id="state" class="state state-active">active</td>' in page
    again = console.post(f"/admin/users/{uid}/unsuspend", data={"csrf": csrf, "reason": "x"})
    assert again.status_code == 400 and "is not suspended" in text_of(again)
