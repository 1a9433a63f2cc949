"""``frontdesk serve`` from the checkout: it becomes gunicorn with the packaged settings, and
its --bind and --workers reach gunicorn (tests/test_wheel.py does the same from a wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

import config
from tests.helpers.servers import START_TIMEOUT
from tests.helpers.servers import free_port

FRONTDESK = str(Path(sys.executable).with_name("frontdesk"))


def test_serve_execs_gunicorn_with_the_packaged_settings_and_passes_bind_and_workers(
        settings: config.Settings, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(FRONTDESK_DATABASE_URL=settings.database_url,
               FRONTDESK_INSTANCE_PATH=settings.instance_path,
               FRONTDESK_SECRET_KEY=settings.secret_key, FRONTDESK_LOG_LEVEL="WARNING",
               FRONTDESK_JOBS_INTERVAL_SECONDS="0")
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen([FRONTDESK, "serve", "--bind", f"127.0.0.1:{port}",
                                   "--workers", "1"], cwd=tmp_path, env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    (tmp_path / "serve.log").read_text(errors="replace"))
                time.sleep(0.1)
        assert (health.status_code, health.headers["server"]) == (200, "gunicorn/asgi")
        # The same process, now gunicorn's arbiter (what systemd supervises), with one worker.
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1:5] == [b"-m", b"gunicorn", b"-c", b"python:config.gunicorn_conf"]
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(children) == 1
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_serve_refuses_a_worker_count_below_one() -> None:
    result = subprocess.run([FRONTDESK, "serve", "--workers", "0"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2
    assert "Invalid value for '--workers'" in result.stderr
