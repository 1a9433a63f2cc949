"""Under real gunicorn, the time-driven work runs by itself: no cron, no second process."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

import config
from app.db import Database
from tests.access.conftest import WEBHOOK_SECRET
from tests.access.conftest import Cast
from tests.helpers.access import events
from tests.helpers.access import personal_token
from tests.helpers.servers import LiveServer
from tests.helpers.webhooks import Receiver

TOML = """
[access.policies.sandbox]
groups = ["sandbox-*"]
approvers = ["sre-leads"]
auto_approve_if_member_of = ["oncall"]
reason = "optional"
max_duration = "1h"

[webhooks.bus]
url = "{url}"
secret = "{secret}"
topics = ["access.grant.*"]
"""


@pytest.mark.gunicorn
def test_a_grant_ends_and_is_announced_by_the_server_itself(
        settings: config.Settings, db: Database, cast: Cast, receiver: Receiver,
        tmp_path: Path) -> None:
    receiver.fail_first = 0
    toml = tmp_path / "frontdesk.toml"
    toml.write_text(TOML.format(url=receiver.url, secret=WEBHOOK_SECRET))
    server = LiveServer(settings, workers=2, env={"FRONTDESK_CONFIG": str(toml),
                                                  "FRONTDESK_JOBS_INTERVAL_SECONDS": "1"})
    try:
        token = personal_token(db, "dee@example.com")
        request = urllib.request.Request(  # noqa: S310 - a loopback test server
            f"{server.url}/api/access/requests", method="POST",
            data=json.dumps({"group": "sandbox-1", "duration": "2s"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            body = json.loads(answer.read())
        assert (answer.status, body["state"], body["grant"]["state"]) == (201, "approved",
                                                                         "active")
        # Poll (bounded) for the workers' own sweep and delivery: nothing here runs them.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            topics = [d.json["topic"] for d in receiver.accepted]
            if "access.grant.ended" in topics:
                break
            time.sleep(0.2)
        assert [d.json["topic"] for d in receiver.accepted] == [
            "access.grant.started", "access.grant.ended"]
        assert [e.actor_label for e in events(db, "access:grant:end")] == ["system:sweeper"]
    finally:
        server.stop()
