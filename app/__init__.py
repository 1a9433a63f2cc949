"""Frontdesk's application factory: the composition root that wires every door to the core.

``create_app`` is the one place that imports the doors (``scim``, ``jit``); everything else in
``app/`` is the shared core they call.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask
from flask import Response
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException

import config
from app import db as database
from app import web
from app.admin import bp as admin_bp
from app.api import bp as api_bp
from app.audit import guard_append_only


def create_app(settings: config.Settings | None = None, **overrides: Any) -> Flask:
    """Build the Flask app from settings (read from the environment when not given)."""
    settings = settings or config.load(**overrides)
    settings = config.ensure_secret_key(settings)
    app = Flask(__name__, instance_path=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.scim_max_body_bytes,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        SESSION_COOKIE_NAME="frontdesk_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["frontdesk.settings"] = settings
    web.configure_logging(settings.log_level)
    db = database.init_app(app, settings.resolved_database_url)
    db.audit_log_file = settings.audit_log_file
    guard_append_only(db.write_session)
    guard_append_only(db.read_session)
    web.init_app(app)

    # The doors depend on app, never the other way round; this is the one place they meet.
    from jit import bp as saml_bp
    from scim import bp as scim_bp

    app.register_blueprint(scim_bp)
    app.register_blueprint(saml_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(admin_bp)

    @app.errorhandler(Exception)
    def _error(err: Exception) -> Response | tuple[Response, int]:
        # A door renders errors under its own URL prefix (SCIM: RFC 7644 §3.12 bodies).
        for prefix, render in app.extensions.get("frontdesk.error_renderers", []):
            if request.path == prefix or request.path.startswith(prefix + "/"):
                response: Response = render(err)
                return response
        if isinstance(err, HTTPException):
            return jsonify(status=err.code, detail=err.description), err.code or 500
        logging.getLogger("frontdesk.error").exception("unhandled error")
        return jsonify(status=500, detail="internal error; see the server log"), 500

    return app


def get_settings(app: Flask) -> config.Settings:
    """Return the app's settings."""
    settings: config.Settings = app.extensions["frontdesk.settings"]
    return settings
