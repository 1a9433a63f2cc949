"""Debian's nginx running ``config/nginx.conf.example`` as shipped, with only its addresses,
ports and certificate paths changed, for tests of the documented production layout."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

from jit.keys import ensure_keypair
from tests.helpers.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "nginx.conf.example"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # `make install` installs it with apt


def render(example: str, *, upstream: str, http_port: int, https_port: int, cert: Path,
           key: Path) -> str:
    """The example with this machine's addresses; every replaced line must be there."""
    replacements = {
        "server 127.0.0.1:8000;": f"server {upstream};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "/etc/ssl/frontdesk/fullchain.pem": str(cert),
        "/etc/ssl/frontdesk/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert example.count(old) == 1, old
        example = example.replace(old, new)
    return example


class Nginx:
    """nginx in the foreground on free loopback ports, in front of ``upstream`` (host:port)."""

    def __init__(self, folder: Path, upstream: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.cert, key = folder / "cert.pem", folder / "key.pem"
        ensure_keypair(key, self.cert, "frontdesk.example.com")
        self.http_port, self.https_port = free_port(), free_port()
        site = folder / "frontdesk.conf"
        site.write_text(render(EXAMPLE.read_text(), upstream=upstream,
                               http_port=self.http_port, https_port=self.https_port,
                               cert=self.cert, key=key))
        temp = "\n".join(f"  {kind}_temp_path {folder / kind};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf = folder / "nginx.conf"
        self.conf.write_text(
            f"daemon off;\nuser {getpass.getuser()};\nworker_processes 1;\n"
            f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n  access_log off;\n{temp}\n  include {site};\n}}\n")
        self.error_log = folder / "error.log"
        self.process: subprocess.Popen[bytes] | None = None

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t``: the configuration parses and its files load."""
        return subprocess.run([NGINX, "-t", "-c", str(self.conf), "-e", str(self.error_log)],
                              capture_output=True, text=True, check=False)

    def start(self) -> Nginx:
        self.process = subprocess.Popen([NGINX, "-c", str(self.conf), "-e", str(self.error_log)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(self.error_log.read_text(errors="replace"))
            time.sleep(0.05)
        return self

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.https_port)) == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # nginx's fast shutdown
            self.process.wait(timeout=10)
