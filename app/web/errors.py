"""Errors as each door speaks them: a door registers a renderer for its URL prefix.

Flask's blueprint error handlers never see a 404 or 405 for a URL no route matched, so one
app-wide handler picks the renderer by path: SCIM answers RFC 7644 §3.12 JSON under
``/scim/v2``, the console HTML pages under ``/admin``, the API JSON under ``/api``.

A database that cannot be reached is not a bug: whatever door it reaches, it becomes a 503
``DatabaseUnavailable`` with ``Retry-After`` and one warning line with the request id (no
traceback); paths without a door of their own (``/me``, ``/saml``) get a plain HTML page.
Every error that carries ``retry_after`` (this one, a throttled authentication) sends the header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import g
from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import ServiceUnavailable

from app.db import is_unavailable

Renderer = Callable[[Exception], Response]
RENDERERS_KEY = "frontdesk.error_renderers"
log = logging.getLogger("frontdesk.error")
# What a client is told to wait while the database is unreachable: long enough not to hammer a
# recovering server, short enough that an IdP's next retry finds it back.
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached right now (503, ``Retry-After``); nothing was done."""

    description = ("The database cannot be reached right now; nothing was changed. Try again "
                   "in a few seconds.")


def _reason(err: Exception) -> str:
    """The driver's one-line reason for a database error: never the statement or its values."""
    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines() or [""]
    return f"{type(orig).__name__}: {lines[0][:200]}"


def register_renderer(bp: Blueprint, render: Renderer) -> None:
    """Render every error under ``bp``'s URL prefix with ``render``."""
    prefix = bp.url_prefix or ""

    @bp.record_once
    def _register(state: Any) -> None:
        state.app.extensions.setdefault(RENDERERS_KEY, []).append((prefix, render))


def init_app(app: Flask) -> None:
    """Install the app-wide handler that hands each error to its door's renderer."""

    @app.errorhandler(Exception)
    def _error(err: Exception) -> Response:
        if is_unavailable(err):
            log.warning("database unavailable", extra={"fields": {
                "request_id": g.get("request_id"), "method": request.method,
                "path": request.path, "error": _reason(err)}})
            err = DatabaseUnavailable(retry_after=RETRY_AFTER_SECONDS)
        response = _render(err)
        retry_after = getattr(err, "retry_after", None)
        if isinstance(retry_after, int):
            response.headers["Retry-After"] = str(retry_after)
        return response

    def _render(err: Exception) -> Response:
        # The longest matching prefix wins: /api/access has its own error body within /api.
        matches = [(prefix, render) for prefix, render in app.extensions.get(RENDERERS_KEY, [])
                   if request.path == prefix or request.path.startswith(prefix + "/")]
        if matches:
            response: Response = max(matches, key=lambda m: len(m[0]))[1](err)
            return response
        if isinstance(err, DatabaseUnavailable):
            page = render_template("unavailable.html", message=err.description,
                                   request_id=g.get("request_id"))
            return make_response(page, 503)
        if isinstance(err, HTTPException):
            return make_response(jsonify(status=err.code, detail=err.description),
                                 err.code or 500)
        log.exception("unhandled error")
        return make_response(jsonify(status=500, detail="internal error; see the server log"),
                             500)
