"""gunicorn settings for Frontdesk, from the same typed settings as the app (``config.load()``:
``FRONTDESK_BIND``, ``FRONTDESK_WORKERS``, ``FRONTDESK_THREADS``, ``FRONTDESK_LOG_LEVEL`` or
the TOML file); every value can be overridden on the command line.

Installed or in a checkout: ``gunicorn -c python:config.gunicorn_conf``. (A module name, not
``gunicorn.conf.py``, so that an installed wheel can name it.)
"""

import logging as _logging
import multiprocessing
import os as _os
import shutil as _shutil
from typing import Any as _Any

# Not "import config": gunicorn would take a module-level name "config" for its own setting.
from config import SettingsError as _SettingsError
from config import load as _load


def _metrics_folder(settings: _Any) -> None:
    """Create this master's metrics folder and name it to the workers, before anything of the
    app is imported here (prometheus_client picks its mode when first imported, and the
    workers fork with the master's modules)."""
    root = _os.path.join(_os.path.abspath(settings.instance_path), "metrics")
    folder = _os.path.join(root, str(_os.getpid()))
    try:
        _os.makedirs(root, exist_ok=True)
        for name in _os.listdir(root):
            if name.isdigit() and not _pid_alive(int(name)):
                _shutil.rmtree(_os.path.join(root, name), ignore_errors=True)
        _shutil.rmtree(folder, ignore_errors=True)
        _os.makedirs(folder)
    except OSError as err:
        raise _SettingsError(
            f"cannot create the metrics folder {folder} ({err.strerror or err}): "
            "FRONTDESK_INSTANCE_PATH must name a writable folder") from None
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def _pid_alive(pid: int) -> bool:
    try:
        _os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


try:
    _early: _Any = _load()
except _SettingsError:
    _early = None  # the start check below names the setting at fault
if _early is not None:
    try:
        _metrics_folder(_early)
    except _SettingsError as _err:
        from app.web.startup import misconfigured as _misconfigured

        _misconfigured(_err, as_json=True)

# Read the settings, build the app once and open the database here, in the master: a
# misconfiguration ends the start with one line and exit status 2 (not a traceback per worker).
from app.web.startup import check_start as _check_start  # noqa: E402 - after the metrics folder

_settings = _check_start()
if _early is not None:  # the check's app is not a worker: its live gauges must not count
    from prometheus_client import multiprocess as _multiprocess

    _multiprocess.mark_process_dead(_os.getpid())  # type: ignore[no-untyped-call]
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
# Twice gunicorn's defaults (4094, 8190; 8190 is the most a request line may be): the SCIM door
# refuses what lies between with a SCIM JSON 414 or 431 (scim.views.refuse_oversized_head),
# not gunicorn's HTML page.
limit_request_line = 8190
limit_request_field_size = 16380
timeout = 30
graceful_timeout = 10
# gunicorn 27 opens a control socket under ~/.gunicorn by default; a server needs none.
control_socket_disable = True

# Each worker imports the app itself (no preload_app): app.web.wsgi starts the worker's thread of
# time-driven work (access sweeps, webhooks), and threads do not survive a fork.
preload_app = False


# --- Observability (issue 10): JSON log lines, Prometheus metrics across workers -------------
# Kept in one block; the hooks below are the only ones this file defines for it.

# Every line gunicorn writes (its error log; no access log: the app writes its own) is JSON,
# through the app's formatter, and so is every record that reaches the root logger (pysaml2,
# SQLAlchemy, warnings). Named by string: the config package imports nothing from the project.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    # The libraries' records from WARNING up (all at debug), as app.logs.library_level says.
    "root": {"level": "DEBUG" if loglevel == "debug" else max(
        loglevel.upper(), "WARNING", key=_logging.getLevelName), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
        # Off: the app's own request line (with the request id) is the access log. (gunicorn
        # still builds its line's fields when a logconfig_dict is set: a few µs a request.)
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}

# prometheus_client's multiprocess mode: each worker writes its counts to files in this folder
# and a scrape of /metrics, answered by any worker, adds them up. One folder per master (two
# servers on one instance folder never mix counts), emptied at start, removed at exit; a folder
# left by a master that died is removed at the next start.
_METRICS_ROOT = _os.path.join(_os.path.abspath(_settings.instance_path), "metrics")


def on_starting(server: object) -> None:
    """The master's warnings are JSON lines too."""
    _logging.captureWarnings(True)


def child_exit(server: object, worker: _Any) -> None:
    """Drop a dead worker's live gauges (its counters keep counting in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: object) -> None:
    """Remove this master's metrics folder."""
    _shutil.rmtree(_os.path.join(_METRICS_ROOT, str(_os.getpid())), ignore_errors=True)
