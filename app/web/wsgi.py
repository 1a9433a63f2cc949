"""Entry points for gunicorn: ``app.web.wsgi:asgi_application`` (the default settings, with
``app.web.serving.Worker``) and the plain WSGI ``app.web.wsgi:application`` (any WSGI server).

gunicorn imports this in each worker (the settings do not preload the app), so each worker also
starts the time-driven work here (access sweeps, webhook deliveries): ``make run`` needs no cron
and no second process. The CLI and the tests build apps with the factory and start no thread.
"""

from app.jobs import BackgroundJobs
from app.web.context import get_db
from app.web.context import get_settings
from app.web.factory import create_app
from app.web.serving import WsgiBridge

application = create_app()
_interval = get_settings(application).jobs_interval_seconds
if _interval > 0:
    BackgroundJobs(get_db(application), _interval).start()

_settings = get_settings(application)
# The largest body any door accepts (Flask's cap is the SCIM one; SAML checks twice its own).
asgi_application = WsgiBridge(
    application, threads=_settings.threads,
    max_body=max(_settings.scim_max_body_bytes, 2 * _settings.saml_max_body_bytes))
