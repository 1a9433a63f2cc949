"""gunicorn settings for Frontdesk; every value can be overridden on the command line.

Installed or in a checkout: ``gunicorn -c python:config.gunicorn_conf``. (A module name, not
``gunicorn.conf.py``, so that an installed wheel can name it.)
"""

import multiprocessing
import os

bind = os.environ.get("FRONTDESK_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FRONTDESK_WORKERS", str(min(4, multiprocessing.cpu_count() * 2))))
threads = int(os.environ.get("FRONTDESK_THREADS", "1"))
wsgi_app = "app.web.wsgi:application"
accesslog = None  # the app writes its own JSON request log with a request id
errorlog = "-"
loglevel = os.environ.get("FRONTDESK_LOG_LEVEL", "info").lower()
timeout = 30
graceful_timeout = 10
# gunicorn 27 opens a control socket under ~/.gunicorn by default; a server needs none.
control_socket_disable = True

# Each worker imports the app itself (no preload_app): app.web.wsgi starts the worker's thread of
# time-driven work (access sweeps, webhooks), and threads do not survive a fork.
preload_app = False
