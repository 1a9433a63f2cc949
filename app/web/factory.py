"""Frontdesk's application factory: the composition root that wires every door to the core.

``create_app`` is the one place that imports the doors (``scim``, ``jit``, the console, the
API, the access pages); gunicorn (``app.web.wsgi``) and the CLI both build the app here, so a
hook added here reaches every entry point.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

import config
from app.access.policy import PolicyError
from app.access.policy import load_access_config
from app.audit.chain import guard_append_only
from app.audit.checkpoint import CheckpointSettings
from app.clock import Clock
from app.db import Database
from app.lifecycle.rules import RuleError
from app.lifecycle.rules import load_lifecycle_config
from app.outbox import WebhookConfigError
from app.outbox import load_endpoints
from app.web import context
from app.web import errors
from app.web import plumbing
from app.web import proxies
from app.web.access.views import bp as access_pages_bp
from app.web.api.access import bp as access_api_bp
from app.web.api.audit import bp as api_bp
from app.web.api.lifecycle import bp as lifecycle_api_bp
from app.web.console.views import bp as console_bp
from jit.views import bp as saml_bp
from scim.views import bp as scim_bp


def create_app(settings: config.Settings | None = None, *, clock: Clock | None = None,
               database: Database | None = None, **overrides: Any) -> Flask:
    """Build the Flask app from settings (read from the environment when not given).

    The TOML file's access policies, webhooks and lifecycle rules are validated here, so a
    mistake stops the start with the key at fault. ``clock`` replaces the system clock
    (tests); ``database``, a database already open on the settings' URL, is used instead of
    opening one (the tests build hundreds of apps on one shared engine).
    """
    settings = settings or config.load(**overrides)
    settings = config.ensure_secret_key(settings)
    try:
        access = load_access_config(settings.extra)
        webhooks = load_endpoints(settings.extra)
        lifecycle = load_lifecycle_config(settings.extra)
    except (PolicyError, WebhookConfigError, RuleError) as err:
        raise config.SettingsError(str(err)) from None
    # Rooted at app/web: the shared static files (one stylesheet) live there.
    app = Flask("app.web", instance_path=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.scim_max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        SESSION_COOKIE_NAME="frontdesk_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    plumbing.configure_logging(settings.log_level)
    if database is not None and database.url != settings.resolved_database_url:
        raise ValueError(f"the database given is {database.url!r}, the settings name "
                         f"{settings.resolved_database_url!r}")
    db = database or Database(settings.resolved_database_url, **_pool_for(settings))
    db.audit_log_file = settings.audit_log_file
    db.checkpoints = CheckpointSettings.from_settings(settings)
    db.webhooks = webhooks
    db.lifecycle = lifecycle
    db.admin_groups = settings.admin_groups
    if clock is not None:
        db.clock = clock
    guard_append_only(db.write_session)
    guard_append_only(db.read_session)
    context.init_app(app, settings, db, access)
    plumbing.init_app(app)
    # X-Forwarded-* believed only from FRONTDESK_TRUSTED_PROXIES (none by default).
    app.wsgi_app = proxies.wrap(app.wsgi_app, settings.proxy_trust)  # type: ignore[method-assign,assignment]
    errors.init_app(app)
    for blueprint in (scim_bp, saml_bp, api_bp, access_api_bp, console_bp, access_pages_bp,
                      lifecycle_api_bp):
        app.register_blueprint(blueprint)
    return app


def _pool_for(settings: config.Settings) -> dict[str, Any]:
    """Enough PostgreSQL connections for every app thread of a worker (a write request holds a
    read and a write connection) plus the background jobs; SQLite keeps SQLAlchemy's pool."""
    if settings.resolved_database_url.startswith("sqlite"):
        return {}
    return {"pool_size": settings.threads + 1, "max_overflow": settings.threads + 1}

