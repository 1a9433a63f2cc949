"""Size limits under real gunicorn: a chunked body over the cap is a 413 like one with a
Content-Length (never cut and read as if whole), and a long URL or header is a SCIM JSON 414 or
431 (not gunicorn's HTML page) up to gunicorn's own, larger limits.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from app.db import Database
from scim.views import MAX_HEADER_FIELD
from scim.views import MAX_REQUEST_LINE
from tests.helpers.factories import make_token
from tests.helpers.reads import nothing_written
from tests.helpers.servers import LiveServer

MIB = 1024 * 1024


def chunks(parts: list[bytes]) -> Iterator[bytes]:
    yield from parts


def call(server: LiveServer, token: str, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    """One request on its own connection; return status, Content-Type and body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json",
            **(headers or {})}, encode_chunked=not isinstance(body, bytes | None))
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


def scim_error(status: int, content_type: str, body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, body[:300]
    assert content_type.startswith("application/scim+json")
    error: dict[str, Any] = json.loads(body)
    assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert error["status"] == str(expected)
    return error


def test_chunked_bodies_over_the_cap_are_413_like_sized_ones(live_server: LiveServer,
                                                            db: Database) -> None:
    token = make_token(db)
    doc = json.dumps({"userName": "chunked@example.com"}).encode()
    padded = [doc] + [b" " * (256 * 1024)] * 8  # valid JSON, then 2 MiB of spaces
    big = json.dumps({"userName": "big@example.com", "title": "x" * (MIB + MIB // 2)}).encode()
    with nothing_written(db):
        for body in (chunks(padded), chunks([big[i:i + 65536] for i in range(0, len(big),
                                                                             65536)])):
            scim_error(*call(live_server, token, "POST", "/scim/v2/Users", body), 413)
        scim_error(*call(live_server, token, "POST", "/scim/v2/Users", b"".join(padded)), 413)
    # Positive control: a chunked body under the cap is read whole.
    status, _, created = call(live_server, token, "POST", "/scim/v2/Users",
                              chunks([doc[:10], doc[10:], b" " * 1000]))
    assert status == 201, created
    assert json.loads(created)["userName"] == "chunked@example.com"


def test_a_long_url_or_header_is_a_scim_414_or_431(live_server: LiveServer,
                                                   db: Database) -> None:
    token = make_token(db)
    long_filter = quote('userName eq "' + "Ä" * 1000 + '"')  # about 6 000 bytes encoded
    assert MAX_REQUEST_LINE < len(long_filter) < 8000
    for path in ("/scim/v2/Users", "/scim/v2/Groups/x"):
        error = scim_error(*call(live_server, token, "GET", f"{path}?filter={long_filter}"),
                           414)
        assert ".search" in error["detail"]
        # Without a token too: the size is checked first, as gunicorn would have.
        scim_error(*call(live_server, "", "GET", f"{path}?filter={long_filter}"), 414)
        header = {"X-Padding": "p" * (MAX_HEADER_FIELD + 100)}
        error = scim_error(*call(live_server, token, "GET", path, headers=header), 431)
        assert "X-Padding" in error["detail"]
    # Positive control: just under the limits, the request is served.
    fits = quote('userName eq "' + "a" * 3900 + '"')
    status, _, body = call(live_server, token, "GET", f"/scim/v2/Users?filter={fits}",
                           headers={"X-Padding": "p" * (MAX_HEADER_FIELD - 200)})
    assert status == 200, body
    assert json.loads(body)["totalResults"] == 0
