"""Start and stop gunicorn (Frontdesk or the reference app) on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

from tests.helpers.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


class Gunicorn:
    """``config/gunicorn_conf.py`` with ``workers`` workers; ``app`` (ASGI) overrides ``wsgi_app``.

    Always ``stop()`` it (run.py does so in ``finally``); its stderr goes to ``log_path``.
    """

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int,
                 app: str | None = None, port: int | None = None) -> None:
        self.port = port or free_port()  # a caller that needs the URL first picks the port
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        cmd = [gunicorn, "-c", "config/gunicorn_conf.py", "--bind", f"{self.host}:{self.port}",
               "--workers", str(workers), "--no-control-socket"]
        if app:
            cmd.append(app)
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            cmd, env={**os.environ, **env, "FRONTDESK_BASE_URL": self.url}, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=self._log,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):  # noqa: S310
                    return
            except OSError:
                if self.process.poll() is not None:
                    self.stop()
                    tail = self.log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"gunicorn exited at start:\n{tail}") from None
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the arbiter), for a profiler."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def pids(self) -> list[int]:
        """The arbiter and its workers."""
        return [self.process.pid, *self.worker_pids()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()
