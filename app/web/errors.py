"""Errors as each door speaks them: a door registers a renderer for its URL prefix.

Flask's blueprint error handlers never see a 404 or 405 for a URL no route matched, so one
app-wide handler picks the renderer by path: SCIM answers RFC 7644 §3.12 JSON under
``/scim/v2``, the console HTML pages under ``/admin``, the API JSON under ``/api``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException

Renderer = Callable[[Exception], Response]
RENDERERS_KEY = "frontdesk.error_renderers"
log = logging.getLogger("frontdesk.error")


def register_renderer(bp: Blueprint, render: Renderer) -> None:
    """Render every error under ``bp``'s URL prefix with ``render``."""
    prefix = bp.url_prefix or ""

    @bp.record_once
    def _register(state: Any) -> None:
        state.app.extensions.setdefault(RENDERERS_KEY, []).append((prefix, render))


def init_app(app: Flask) -> None:
    """Install the app-wide handler that hands each error to its door's renderer."""

    @app.errorhandler(Exception)
    def _error(err: Exception) -> Response | tuple[Response, int]:
        # The longest matching prefix wins: /api/access has its own error body within /api.
        matches = [(prefix, render) for prefix, render in app.extensions.get(RENDERERS_KEY, [])
                   if request.path == prefix or request.path.startswith(prefix + "/")]
        if matches:
            response: Response = max(matches, key=lambda m: len(m[0]))[1](err)
            return response
        if isinstance(err, HTTPException):
            return jsonify(status=err.code, detail=err.description), err.code or 500
        log.exception("unhandled error")
        return jsonify(status=500, detail="internal error; see the server log"), 500
