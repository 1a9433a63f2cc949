"""gunicorn settings for the reference app: Frontdesk's own (``config/gunicorn_conf.py``), but
without its background jobs, whose ``post_worker_init`` hook needs a Frontdesk app (its settings
and database) and stops any other app's workers from booting."""

from typing import Any

from config.gunicorn_conf import *  # noqa: F403 - the same settings, one hook less


def post_worker_init(worker: Any) -> None:
    """The reference app has no time-driven work."""
