"""Frontdesk under real gunicorn on a free loopback port, for tests that need real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import config

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
# Two workers each import pysaml2 and build its XML schemas (seconds of CPU); on a busy machine,
# with the other xdist worker running too, that has taken over 30 s.
START_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """Frontdesk under real gunicorn (2 workers) on a free loopback port.

    Another pytest-xdist worker may take the port between ``free_port`` and gunicorn's bind;
    then gunicorn exits at once and the next free port is tried.
    """

    def __init__(self, settings: config.Settings, workers: int = 2, attempts: int = 3,
                 env: dict[str, str] | None = None) -> None:
        for attempt in range(attempts):
            try:
                self._start(settings, workers, env or {})
                return
            except _PortTakenError:
                if attempt == attempts - 1:
                    raise

    def _start(self, settings: config.Settings, workers: int, extra_env: dict[str, str]
               ) -> None:
        self.port = free_port()
        self.log = ""  # gunicorn's stderr (its log and ours), read when stopped
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "FRONTDESK_DATABASE_URL": settings.database_url,
            "FRONTDESK_INSTANCE_PATH": settings.instance_path,
            "FRONTDESK_BASE_URL": self.url,
            "FRONTDESK_SECRET_KEY": settings.secret_key,
            "FRONTDESK_LOG_LEVEL": "WARNING",
            "FRONTDESK_CLIENT_TIMEOUT_SECONDS": str(settings.client_timeout_seconds),
        }
        if settings.saml_idp_metadata:
            env["FRONTDESK_SAML_IDP_METADATA"] = ",".join(settings.saml_idp_metadata)
        if settings.trusted_proxies:
            env["FRONTDESK_TRUSTED_PROXIES"] = ",".join(settings.trusted_proxies)
        env.update(extra_env)
        self.process = subprocess.Popen(
            [GUNICORN, "-c", "config/gunicorn_conf.py", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--no-control-socket"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):  # noqa: S310
                    return
            except OSError:
                if self.process.poll() is not None:
                    stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                    self.stop()
                    if "Address already in use" in stderr:
                        raise _PortTakenError from None
                    raise RuntimeError(stderr or "gunicorn exited") from None
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not start within {START_TIMEOUT} s")

    def stop_and_read_stderr(self) -> str:
        """Stop gunicorn and return all it wrote to stderr (start the server with a quiet log
        level or few requests: nobody reads the pipe while it runs)."""
        self.process.terminate()
        _, stderr = self.process.communicate(timeout=30)
        return stderr.decode()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None and not self.process.stderr.closed:
            self.log = self.process.stderr.read().decode(errors="replace")
            self.process.stderr.close()  # else the pipe leaks into the next test as a warning


class _PortTakenError(Exception):
    """gunicorn could not bind its port: someone took it first."""
