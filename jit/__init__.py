"""The SAML just-in-time sign-up door: ``/saml/metadata``, ``/saml/login``, ``/saml/acs``,
and the signed-in page ``/me``.

Imports ``app`` (the core) and never ``scim``. The service provider (pysaml2 configuration,
trusted IdPs) is built once per app into ``app.extensions["frontdesk.saml"]``.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Flask

bp = Blueprint("saml", __name__, template_folder="templates")


@bp.record_once
def _build_service_provider(state: object) -> None:
    from app import get_settings
    from jit.sp import ServiceProvider

    app: Flask = state.app  # type: ignore[attr-defined]
    app.extensions["frontdesk.saml"] = ServiceProvider(get_settings(app))


from jit import views  # noqa: E402,F401 - registers the routes on bp
