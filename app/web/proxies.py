"""Trusted proxies: ``X-Forwarded-For``, ``-Proto`` and ``-Host`` believed only from them.

``FRONTDESK_TRUSTED_PROXIES`` (``config/proxies.py``) says who they are. The WSGI environ is
rewritten before Flask sees it, so everything that reads the peer (``request.remote_addr``: the
audit ``sourceIp``, the request log) or the scheme (``request.is_secure``: Secure cookies) gets
the client's view. From any other peer the headers change nothing.

The public URLs Frontdesk writes (``meta.location``, SAML entity id, ACS, metadata) come from
``FRONTDESK_BASE_URL`` alone, never from a forwarded host: an IdP is configured with them, and a
Host header (forwarded or not) must not be able to change them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from config.proxies import IPAddress
from config.proxies import ProxyTrust

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

ORIGINAL = "frontdesk.proxy.original"  # the environ values replaced, for the curious
SCHEMES = ("http", "https")
# host or [v6], optional port: what a Host header may hold (RFC 9110 §7.2, without userinfo).
HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


def wrap(wsgi_app: WSGIApplication, trust: ProxyTrust) -> WSGIApplication:
    """Return ``wsgi_app`` behind the proxy handling ``trust`` asks for (none by default)."""
    if trust.hops:
        # Werkzeug's ProxyFix takes the n-th value from the right; the peer is the last proxy.
        fixed = ProxyFix(_KeepValidAddress(wsgi_app), x_for=trust.hops,
                         x_proto=trust.hops, x_host=trust.hops)
        return fixed
    if trust.networks:
        return TrustedNetworks(wsgi_app, trust)
    return wsgi_app


def parse_address(text: str) -> IPAddress | None:
    """Return the IP address ``text`` names, or None (a name, a port, garbage)."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def forwarded_client(peer: str, forwarded_for: Iterable[str], trust: ProxyTrust
                     ) -> tuple[IPAddress, int] | None:
    """Walk ``X-Forwarded-For`` from the right past trusted proxies: return the first address
    that is not one (the client) and how many trusted proxies were passed, peer included.

    None when the peer is not a trusted proxy: then nothing forwarded is believed. An entry that
    is not an IP address ends the walk at the last proxy that was trusted (it wrote garbage, or
    an untrusted party did and the proxy passed it on).
    """
    client = parse_address(peer)
    if client is None or not trust.trusts(client):
        return None
    hops = 1
    for entry in reversed(list(forwarded_for)):
        address = parse_address(entry)
        if address is None:
            break
        client = address
        if not trust.trusts(address):
            break
        hops += 1
    return client, hops


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _nth_from_right(values: list[str], hops: int) -> str | None:
    """The value the outermost trusted proxy set, as ProxyFix takes it."""
    return values[-hops] if hops and len(values) >= hops else None


class TrustedNetworks:
    """WSGI middleware for the networks form: a request whose peer is in a trusted network has
    its client address, scheme and host taken from the forwarded headers."""

    def __init__(self, wsgi_app: WSGIApplication, trust: ProxyTrust) -> None:
        self.wsgi_app = wsgi_app
        self.trust = trust

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        found = forwarded_client(environ.get("REMOTE_ADDR", ""),
                                 _split(environ.get("HTTP_X_FORWARDED_FOR")), self.trust)
        if found is not None:
            client, hops = found
            original: dict[str, Any] = {key: environ.get(key) for key in
                                        ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST")}
            environ[ORIGINAL] = original
            environ["REMOTE_ADDR"] = str(client)
            proto = _nth_from_right(_split(environ.get("HTTP_X_FORWARDED_PROTO")), hops)
            if proto is not None and proto.lower() in SCHEMES:
                environ["wsgi.url_scheme"] = proto.lower()
            host = _nth_from_right(_split(environ.get("HTTP_X_FORWARDED_HOST")), hops)
            if host is not None and HOST_RE.match(host):
                environ["HTTP_HOST"] = host
        return self.wsgi_app(environ, start_response)


class _KeepValidAddress:
    """Behind ProxyFix: when the forwarded client address is not an IP address (a client wrote
    it and too few proxies appended), keep the peer's instead of storing garbage."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        original = environ.get("werkzeug.proxy_fix.orig", {})
        if parse_address(environ.get("REMOTE_ADDR", "")) is None:
            environ["REMOTE_ADDR"] = original.get("REMOTE_ADDR")
        original = environ.get("werkzeug.proxy_fix.orig", {})
        if environ.get("wsgi.url_scheme") not in SCHEMES:
            environ["wsgi.url_scheme"] = original.get("wsgi.url_scheme", "http")
        if not HOST_RE.match(environ.get("HTTP_HOST") or "") and "HTTP_HOST" in original:
            environ["HTTP_HOST"] = original["HTTP_HOST"]
        return self.wsgi_app(environ, start_response)
