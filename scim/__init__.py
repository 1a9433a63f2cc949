"""The SCIM 2.0 door (RFC 7643/7644) at ``/scim/v2``.

Imports ``app`` (the core) and never ``jit``. Every error under ``/scim/v2`` — ours, the
core's, Werkzeug's — leaves as an RFC 7644 §3.12 body with ``application/scim+json``.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import Flask
from flask import Response
from werkzeug.exceptions import HTTPException

from app.auth import AuthError
from app.errors import ConflictError
from app.errors import DomainError
from app.errors import InvalidFilterError
from app.errors import InvalidInputError
from app.errors import MutabilityError
from app.errors import NotFoundError
from app.errors import PreconditionFailedError
from scim import errors

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
log = logging.getLogger("frontdesk.scim")

_DOMAIN: dict[type[DomainError], type[errors.ScimError]] = {
    ConflictError: errors.Uniqueness,
    InvalidFilterError: errors.InvalidFilter,
    InvalidInputError: errors.InvalidValue,
    MutabilityError: errors.Mutability,
}


def to_scim_error(err: Exception) -> errors.ScimError:
    """Translate any exception raised while serving SCIM into a ScimError."""
    if isinstance(err, errors.ScimError):
        return err
    if isinstance(err, AuthError):
        return errors.ScimError(err.detail, status=err.status)
    if isinstance(err, NotFoundError):
        return errors.ScimError(err.detail, status=404)
    if isinstance(err, PreconditionFailedError):
        return errors.ScimError(err.detail, status=412)
    if isinstance(err, DomainError):
        return _DOMAIN.get(type(err), errors.InvalidValue)(err.detail)
    if isinstance(err, HTTPException):
        status = err.code or 500
        detail = {
            404: "no such SCIM endpoint",
            405: "method not allowed on this endpoint",
            413: "the request body is too large",
        }.get(status, err.description or "bad request")
        return errors.ScimError(detail, status=status)
    log.exception("unhandled error in a SCIM request")
    return errors.ScimError("internal error; the request was not applied", status=500)


def render_error(err: Exception) -> Response:
    """Return the RFC 7644 §3.12 response for ``err``."""
    from scim.views import scim_response

    scim_err = to_scim_error(err)
    headers: dict[str, str] = {}
    if scim_err.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="frontdesk"'
    if isinstance(err, HTTPException):
        # Keep what HTTP requires of the status, such as Allow on a 405.
        headers.update((k, v) for k, v in err.get_headers() if k.lower() == "allow")
    return scim_response(scim_err.to_dict(), scim_err.status, headers)


@bp.record_once
def _register(state: object) -> None:
    app: Flask = state.app  # type: ignore[attr-defined]
    app.extensions.setdefault("frontdesk.error_renderers", []).append((bp.url_prefix,
                                                                       render_error))


@bp.errorhandler(Exception)
def _handle(err: Exception) -> Response:
    return render_error(err)


from scim import views  # noqa: E402,F401 - registers the routes on bp
