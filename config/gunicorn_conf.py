"""gunicorn settings for Frontdesk, from the same typed settings as the app (``config.load()``:
``FRONTDESK_BIND``, ``FRONTDESK_WORKERS``, ``FRONTDESK_THREADS``, ``FRONTDESK_LOG_LEVEL`` or
the TOML file); every value can be overridden on the command line.

Installed or in a checkout: ``gunicorn -c python:config.gunicorn_conf``. (A module name, not
``gunicorn.conf.py``, so that an installed wheel can name it.)
"""

import multiprocessing

# Not "import config": gunicorn would take a module-level name "config" for its own setting.
from app.web.startup import check_start as _check_start

# Read the settings, build the app once and open the database here, in the master: a
# misconfiguration ends the start with one line and exit status 2 (not a traceback per worker).
_settings = _check_start()
bind = _settings.bind
workers = _settings.workers or min(4, multiprocessing.cpu_count() * 2)
threads = _settings.threads
wsgi_app = "app.web.wsgi:application"
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
