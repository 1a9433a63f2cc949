"""WSGI entry point for gunicorn: ``app.web.wsgi:application``.

gunicorn imports this in each worker (the settings do not preload the app), so each worker also
starts the time-driven work here (access sweeps, webhook deliveries): ``make run`` needs no cron
and no second process. The CLI and the tests build apps with the factory and start no thread.
"""

from app.jobs import BackgroundJobs
from app.web.context import get_db
from app.web.context import get_settings
from app.web.factory import create_app

application = create_app()
_interval = get_settings(application).jobs_interval_seconds
if _interval > 0:
    BackgroundJobs(get_db(application), _interval).start()
