"""WSGI entry point for gunicorn: ``app.web.wsgi:application``."""

from app.web.factory import create_app

application = create_app()
