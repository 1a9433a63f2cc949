"""``safe_next``: where a browser may be sent after sign-in (RelayState and ``?next=``)."""

from __future__ import annotations

import pytest

from jit.redirects import MAX_LENGTH
from jit.redirects import safe_next

ALLOWED = ("app.example.com",)


@pytest.mark.parametrize("value", [
    "/", "/me", "/me?x=1", "/me?x=1&y=2#groups", "/admin/audit?actor=a%20b",
    "/%2F%2Fevil.example",  # percent-encoded: a path on this site, never an authority
    "/\uff0f\uff0fevil.example",  # fullwidth solidi are not slashes to a browser
    "/me?next=//evil.example", "/./me", "/a:b",
])
def test_same_site_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", [
    None, "", "me", "evil.example", "evil.example/me",
    "//evil.example", "///evil.example", "////evil.example/me",
    "/\\evil.example", "\\/evil.example", "\\\\evil.example", "/me\\..\\x",
    "https://evil.example", "http://evil.example/me", "HTTPS://evil.example",
    "https:evil.example", "https:/evil.example", "ftp://evil.example",
    "javascript:alert(1)", "JavaScript:alert(1)", "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
    "\t//evil.example", "\n//evil.example", " //evil.example", "/\t/evil.example",
    "/\r\n/evil.example", "/me\r\nSet-Cookie: x=1", "/me\x00", "/me\x7f", "/me\x0b",
    "/me me", "\u0085//evil.example", "/\u0085/evil.example",
    "/" + "a" * MAX_LENGTH,
])
def test_everything_else_is_refused(value: str | None) -> None:
    assert safe_next(value) is None
    assert safe_next(value, ALLOWED) is None


@pytest.mark.parametrize("value", [
    "https://app.example.com", "https://app.example.com/", "https://app.example.com/x?y=1",
    "https://app.example.com:8443/x",
])
def test_configured_hosts_over_https(value: str) -> None:
    assert safe_next(value) is None
    assert safe_next(value, ALLOWED) == value


@pytest.mark.parametrize("value", [
    "http://app.example.com/x", "https://app.example.com.evil.example/x",
    "https://evil.example/app.example.com", "https://user@app.example.com/",
    "https://user:pw@app.example.com/", "https://evil.example@app.example.com/",
    "https://app.example.com@evil.example/", "https://app.example.com\\@evil.example/",
    "//app.example.com/x", "https://sub.app.example.com/x", "https://app.example.com\t/x",
])
def test_configured_hosts_only_exactly_and_without_credentials(value: str) -> None:
    assert safe_next(value, ALLOWED) is None
