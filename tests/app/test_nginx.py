"""The README's production layout: ``config/nginx.conf.example`` as shipped (addresses, ports and
certificate paths substituted) validates with ``nginx -t``, passes requests over TLS to Frontdesk
under gunicorn, redirects plain HTTP, and sets X-Forwarded-For/-Proto/-Host itself, replacing
whatever the client sent. Debian's nginx, installed by ``make install``."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import config
from tests.helpers.nginx import Nginx
from tests.helpers.servers import LiveServer
from tests.helpers.webhooks import Receiver

HOST = "frontdesk.example.com"


def tls(nginx: Nginx) -> ssl.SSLContext:
    """Trust the proxy's self-signed certificate (the test talks to 127.0.0.1, not HOST)."""
    context = ssl.create_default_context(cafile=str(nginx.cert))
    context.check_hostname = False
    return context


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Callable[[str], Nginx]]:
    started: list[Nginx] = []

    def start(upstream: str) -> Nginx:
        started.append(Nginx(tmp_path / f"nginx{len(started)}", upstream).start())
        return started[-1]

    yield start
    for nginx in started:
        nginx.stop()


def test_the_example_configuration_passes_nginx_t(tmp_path: Path) -> None:
    result = Nginx(tmp_path / "nginx", "127.0.0.1:9").check()
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_nginx_passes_https_requests_to_frontdesk_and_redirects_http(
        settings: config.Settings, start_server: Callable[[config.Settings], LiveServer],
        proxy: Callable[[str], Nginx]) -> None:
    server = start_server(settings)
    nginx = proxy(f"127.0.0.1:{server.port}")
    https = f"https://127.0.0.1:{nginx.https_port}"
    with httpx.Client(verify=tls(nginx), headers={"Host": HOST}) as client:
        health = client.get(f"{https}/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        scim = client.get(f"{https}/scim/v2/Users")  # Frontdesk's own SCIM 401 comes through
        assert scim.status_code == 401
        assert scim.headers["content-type"].startswith("application/scim+json")
        plain = client.get(f"http://127.0.0.1:{nginx.http_port}/scim/v2/Users?count=1")
        assert (plain.status_code, plain.headers["location"]) == (
            308, f"https://{HOST}/scim/v2/Users?count=1")


def test_nginx_sets_the_forwarded_headers_and_drops_what_the_client_sent(
        receiver: Receiver, proxy: Callable[[str], Nginx]) -> None:
    assert receiver.server is not None
    nginx = proxy(f"127.0.0.1:{receiver.server.server_address[1]}")
    with httpx.Client(verify=tls(nginx)) as client:
        answer = client.post(
            f"https://127.0.0.1:{nginx.https_port}/hook", content=b'{"ok": true}',
            headers={"Host": HOST, "X-Forwarded-For": "203.0.113.66",
                     "X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "evil.example",
                     "Forwarded": "for=203.0.113.66"})
    assert answer.status_code == 204
    [delivery] = receiver.accepted
    seen = {k.lower(): v for k, v in delivery.headers.items()}
    assert (seen["x-forwarded-for"], seen["x-forwarded-proto"], seen["x-forwarded-host"],
            seen["host"]) == ("127.0.0.1", "https", HOST, HOST)
    assert "forwarded" not in seen
    assert delivery.body == b'{"ok": true}'
