"""gunicorn settings for Frontdesk, from the same typed settings as the app (``config.load()``:
``FRONTDESK_BIND``, ``FRONTDESK_WORKERS``, ``FRONTDESK_THREADS``, ``FRONTDESK_LOG_LEVEL`` or
the TOML file); every value can be overridden on the command line.

Installed or in a checkout: ``gunicorn -c python:config.gunicorn_conf``. (A module name, not
``gunicorn.conf.py``, so that an installed wheel can name it.)
"""

import multiprocessing

# Not "import config": gunicorn would take a module-level name "config" for its own setting.
from config import load as _load

_settings = _load()
bind = _settings.bind
workers = _settings.workers or min(4, multiprocessing.cpu_count() * 2)
threads = _settings.threads  # each worker runs the Flask app on this many threads
# An asyncio worker holds the connections while they are read, with a deadline
# (FRONTDESK_CLIENT_TIMEOUT_SECONDS); the app runs only on whole requests (app/web/serving.py).
worker_class = "app.web.serving.Worker"
wsgi_app = "app.web.wsgi:asgi_application"
worker_connections = 1000  # open connections per worker, slow ones included
keepalive = 5  # seconds an idle kept-alive connection stays open
accesslog = None  # the app writes its own JSON request log with a request id
errorlog = "-"
loglevel = _settings.log_level.lower()
timeout = 30
graceful_timeout = 10
# gunicorn 27 opens a control socket under ~/.gunicorn by default; a server needs none.
control_socket_disable = True

# Each worker imports the app itself (no preload_app): app.web.wsgi starts the worker's thread of
# time-driven work (access sweeps, webhooks), and threads do not survive a fork.
preload_app = False
