"""``/metrics`` and the logs of real gunicorn (2 workers): counts from both workers add up in
every scrape, whichever worker answers it, and every line the server writes is JSON."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import config
from app.db import Database
from tests.helpers.audit import events
from tests.helpers.factories import make_token
from tests.helpers.metrics import json_lines
from tests.helpers.metrics import parse
from tests.helpers.metrics import value
from tests.helpers.servers import GUNICORN
from tests.helpers.servers import ROOT
from tests.helpers.servers import LiveServer
from tests.helpers.servers import free_port

REQUESTS = "frontdesk_http_requests_total"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
# No time-driven work: its thread would check connections out while the test reads the pools.
QUIET = {"FRONTDESK_JOBS_INTERVAL_SECONDS": "0", "FRONTDESK_LOG_LEVEL": "INFO"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def fresh_get(url: str, **headers: str | bytes) -> httpx.Response:
    """GET on a new connection, so that the workers take turns accepting."""
    return httpx.get(url, headers={"Connection": "close", **headers}, timeout=30)


def test_counts_add_up_across_workers(app: object, settings: config.Settings, db: Database,
                                      start_server: Callable[..., LiveServer]) -> None:
    server = start_server(settings, env=QUIET)
    scim_token = make_token(db, "okta", ("scim",))
    metrics_token = make_token(db, "prometheus", ("metrics",))
    auth = {"Authorization": f"Bearer {scim_token}"}
    # The server's start polled /healthz (some polls timed out, then were served): a baseline.
    baseline = parse(fresh_get(f"{server.url}/metrics",
                               Authorization=f"Bearer {metrics_token}").text)
    polled = value(baseline, REQUESTS, route="/healthz", method="GET", status="200")

    def create(i: int) -> httpx.Response:
        return httpx.post(f"{server.url}/scim/v2/Users", timeout=30, headers={
            **auth, "Connection": "close", "Content-Type": "application/scim+json"},
            json={"schemas": [USER_SCHEMA], "userName": f"Äda{i}@example.com"})

    with ThreadPoolExecutor(max_workers=6) as pool:
        created = list(pool.map(create, range(12)))
        health = list(pool.map(lambda _: fresh_get(f"{server.url}/healthz"), range(60)))
    assert [r.status_code for r in created] == [201] * 12
    assert [r.status_code for r in health] == [200] * 60
    bad = fresh_get(f"{server.url}/scim/v2/Users", Authorization="Bearer fd_0_nope")
    assert bad.status_code == 401

    # Every scrape, whichever worker answers it, shows the same totals.
    scrapes = [fresh_get(f"{server.url}/metrics", Authorization=f"Bearer {metrics_token}")
               for _ in range(6)]
    assert [r.status_code for r in scrapes] == [200] * 6
    head = max(e.seq for e in events(db))
    for number, scrape in enumerate(scrapes):
        samples = parse(scrape.text)
        assert value(samples, REQUESTS, route="/healthz", method="GET",
                     status="200") == polled + 60
        assert value(samples, REQUESTS, route="/scim/v2/Users", method="POST",
                     status="201") == 12
        assert value(samples, REQUESTS, route="/metrics", method="GET",
                     status="200") == number + 1
        assert value(samples, "frontdesk_scim_operations_total", resource="users",
                     operation="create", status="201") == 12
        assert value(samples, "frontdesk_auth_failures_total", reason="invalid") == 1
        assert value(samples, "frontdesk_http_request_duration_seconds_count",
                     route="/healthz", method="GET") == polled + 60
        assert value(samples, "frontdesk_audit_head_seq") == head
        # Two workers' pools of 5; the scrape itself holds the one connection out.
        assert value(samples, "frontdesk_db_pool_size") == 10
        assert value(samples, "frontdesk_db_pool_checked_out") == 1

    # Both workers served: their pids are on the request lines.
    lines = json_lines(server.stop_and_read_stderr())
    serving = {line["pid"] for line in lines
               if line["logger"] == "frontdesk.request" and line["path"] == "/healthz"}
    assert len(serving) == 2, serving


def test_metrics_folder_is_the_masters_and_goes_with_it(
        app: object, settings: config.Settings,
        start_server: Callable[..., LiveServer]) -> None:
    root = Path(settings.instance_path) / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    stale = root / "999999999"  # left by a master that died: removed at the next start
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"")
    server = start_server(settings, env=QUIET)
    assert fresh_get(f"{server.url}/healthz").status_code == 200
    folder = root / str(server.process.pid)
    assert not stale.exists()
    assert any(folder.iterdir())  # the workers count there
    server.stop_and_read_stderr()
    assert not folder.exists()


def test_every_line_is_json_with_request_and_trace_ids(
        app: object, settings: config.Settings, db: Database,
        start_server: Callable[..., LiveServer]) -> None:
    server = start_server(settings, env=QUIET)
    traced = fresh_get(f"{server.url}/healthz",
                       traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01")
    invalid = [  # each ignored: the request is served, no trace id is logged
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",  # uppercase hex
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",  # version ff
        f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra",  # version 00 has four fields
        "Äda-Strauß".encode(),  # not even ASCII
    ]
    untraced = [fresh_get(f"{server.url}/healthz", traceparent=value) for value in invalid]
    future = fresh_get(f"{server.url}/healthz",  # a later version may add fields
                       traceparent=f"01-{TRACE_ID}-00f067aa0ba902b7-01-what-comes-next")
    assert [r.status_code for r in [traced, *untraced, future]] == [200] * 8

    lines = json_lines(server.stop_and_read_stderr())
    by_request = {line.get("request_id"): line for line in lines
                  if line["logger"] == "frontdesk.request"}
    assert by_request[traced.headers["X-Request-Id"]]["trace_id"] == TRACE_ID
    assert by_request[traced.headers["X-Request-Id"]]["parent_id"] == "00f067aa0ba902b7"
    assert by_request[future.headers["X-Request-Id"]]["trace_id"] == TRACE_ID
    for response in untraced:
        assert "trace_id" not in by_request[response.headers["X-Request-Id"]]
    # gunicorn's own lines are JSON too.
    gunicorn = [line["msg"] for line in lines if line["logger"] == "gunicorn.error"]
    assert any(msg.startswith("Booting worker with pid") for msg in gunicorn), gunicorn
    assert any(msg.startswith("Handling signal: term") for msg in gunicorn), gunicorn


def test_warnings_and_uncaught_errors_are_json_lines(tmp_path: Path) -> None:
    """A Python warning, an error in a thread and an uncaught exception, in a process that
    configured logging as the app does: each is one JSON line."""
    script = (
        "import threading, warnings\n"
        "from app.logs import configure\n"
        "configure('INFO')\n"
        "warnings.warn('Äda was here')\n"
        "thread = threading.Thread(target=lambda: 1 / 0, name='sweeper')\n"
        "thread.start(); thread.join()\n"
        "raise RuntimeError('Strauß')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 1
    lines = json_lines(done.stderr)
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("py.warnings", "warning"), ("frontdesk.uncaught", "critical"),
        ("frontdesk.uncaught", "critical")]
    assert "Äda was here" in lines[0]["msg"]
    assert lines[1]["thread"] == "sweeper" and "ZeroDivisionError" in lines[1]["exc"]
    assert "RuntimeError: Strauß" in lines[2]["exc"]


def test_an_unusable_instance_folder_stops_the_start_with_one_json_line(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "instance"
    not_a_folder.write_text("")
    done = subprocess.run(
        [GUNICORN, "-c", "config/gunicorn_conf.py", "--bind", f"127.0.0.1:{free_port()}",
         "--workers", "1", "--no-control-socket"],
        env={**os.environ, "FRONTDESK_INSTANCE_PATH": str(not_a_folder)},
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    [only] = json_lines(done.stderr)
    assert (only["logger"], only["level"]) == ("frontdesk.startup", "critical")
    assert only["msg"].startswith(f"cannot create the metrics folder {not_a_folder}/metrics/")
    assert only["msg"].endswith("(Not a directory): FRONTDESK_INSTANCE_PATH must name a "
                                "writable folder")
