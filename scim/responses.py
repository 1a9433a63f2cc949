"""SCIM responses: resources and errors as ``application/scim+json``.

Every exception raised while serving ``/scim/v2`` — ours, the core's, Werkzeug's — leaves as an
RFC 7644 §3.12 body; internals never reach the client.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response
from werkzeug.exceptions import HTTPException

from app.errors import ConflictError
from app.errors import DomainError
from app.errors import InvalidFilterError
from app.errors import InvalidInputError
from app.errors import NotFoundError
from app.errors import PreconditionFailedError
from app.web.callers import AuthError
from scim.errors import InvalidFilter
from scim.errors import InvalidValue
from scim.errors import ScimError
from scim.errors import Uniqueness

SCIM_JSON = "application/scim+json; charset=utf-8"


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    """Return ``body`` as ``application/scim+json``."""
    text = b"" if body is None else _encode(body)
    response = Response(text, status=status, content_type=SCIM_JSON)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _encode(body: Any) -> bytes:
    """JSON as UTF-8; text with no UTF-8 form (a lone surrogate that an error detail echoes)
    leaves as a \\u escape instead of crashing the response."""
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True).encode("ascii")


log = logging.getLogger("frontdesk.scim")

_DOMAIN: dict[type[DomainError], type[ScimError]] = {
    ConflictError: Uniqueness,
    InvalidFilterError: InvalidFilter,
    InvalidInputError: InvalidValue,
}


def to_scim_error(err: Exception) -> ScimError:
    """Translate any exception raised while serving SCIM into a ScimError."""
    if isinstance(err, ScimError):
        return err
    if isinstance(err, AuthError):
        return ScimError(err.detail, status=err.status)
    if isinstance(err, NotFoundError):
        return ScimError(err.detail, status=404)
    if isinstance(err, PreconditionFailedError):
        return ScimError(err.detail, status=412)
    if isinstance(err, DomainError):
        return _DOMAIN.get(type(err), InvalidValue)(err.detail)
    if isinstance(err, HTTPException):
        status = err.code or 500
        detail = {
            404: "no such SCIM endpoint",
            405: "method not allowed on this endpoint",
            413: "the request body is too large",
        }.get(status, err.description or "bad request")
        return ScimError(detail, status=status)
    log.exception("unhandled error in a SCIM request")
    return ScimError("internal error; the request was not applied", status=500)


def render_error(err: Exception) -> Response:
    """Return the RFC 7644 §3.12 response for ``err``."""
    scim_err = to_scim_error(err)
    headers: dict[str, str] = {}
    if scim_err.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="frontdesk"'
    if isinstance(err, HTTPException):
        # Keep what HTTP requires of the status, such as Allow on a 405.
        headers.update((k, v) for k, v in err.get_headers() if k.lower() == "allow")
    return scim_response(scim_err.to_dict(), scim_err.status, headers)


