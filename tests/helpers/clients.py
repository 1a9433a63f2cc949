"""Test clients: SCIM with a bearer token, https for the Secure cookies, PatchOp bodies."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

BASE_URL = "https://frontdesk.example.com"  # the ``settings`` fixture's base URL
SCIM_HEADERS = {"Content-Type": "application/scim+json", "Accept": "application/scim+json"}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class ScimClient:
    """A test client that sends the bearer token and SCIM content type on every call."""

    def __init__(self, client: FlaskClient, token: str, prefix: str = "/scim/v2") -> None:
        self.client = client
        self.headers = {**SCIM_HEADERS, "Authorization": f"Bearer {token}"}
        self.prefix = prefix

    def _call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None,
              **kwargs: Any) -> Any:
        url = path if path.startswith("/scim") else self.prefix + path
        return self.client.open(url, method=method, json=json,
                                headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("POST", path, json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PUT", path, json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PATCH", path, json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self._call("DELETE", path, **kw)


class HttpsClient(FlaskClient):
    """A test client that talks to ``https://frontdesk.example.com`` unless told otherwise,
    so the Secure session and binding cookies come and go as in a browser."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        if not args or isinstance(args[0], str):
            kwargs.setdefault("base_url", BASE_URL)
        response: TestResponse = super().open(*args, **kwargs)
        return response


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    """Wrap operations in a PatchOp body."""
    return {"schemas": [PATCH_OP], "Operations": list(operations)}
