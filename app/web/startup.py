"""Starting Frontdesk: a misconfiguration ends the start with one line and exit status 2.

The CLI (``app.cli.main``) and gunicorn's master (``config/gunicorn_conf.py``, before any worker
forks) both come through here, so a wrong setting, file or database says what is wrong and what
would fix it, once, instead of a traceback per worker. ``--debug`` (CLI) or
``FRONTDESK_LOG_LEVEL=debug`` prints the traceback too.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn
from typing import TypeVar

import config
from app.db import DatabaseUnreachableError
from app.logs import JsonFormatter
from app.web.context import get_db
from app.web.context import get_settings
from app.web.factory import create_app

T = TypeVar("T")
# What an operator can fix: bad settings (config.SettingsError, the one exception for them)
# and a database that cannot be opened. Anything else is a bug and keeps its traceback.
MISCONFIGURATION = (config.SettingsError, DatabaseUnreachableError)
EXIT_MISCONFIGURED = 2


def misconfigured(err: BaseException, *, debug: bool = False, as_json: bool = False
                  ) -> NoReturn:
    """Print ``error: <message>`` (after the traceback when debugging) and exit with status 2;
    ``as_json``: as one JSON log line instead (the server's stderr is a stream of them)."""
    if config.debug_requested(debug):
        traceback.print_exception(err)
    if as_json:
        record = logging.makeLogRecord({"name": "frontdesk.startup", "levelno": logging.CRITICAL,
                                        "levelname": "CRITICAL", "msg": str(err)})
        print(JsonFormatter().format(record), file=sys.stderr, flush=True)
    else:
        print(f"error: {err}", file=sys.stderr, flush=True)
    sys.exit(EXIT_MISCONFIGURED)


def or_exit(action: Callable[[], T], *, debug: bool = False, as_json: bool = False) -> T:
    """Return ``action()``; a misconfiguration it raises ends the process in one line."""
    try:
        return action()
    except MISCONFIGURATION as err:
        misconfigured(err, debug=debug, as_json=as_json)


def check_start() -> config.Settings:
    """Build the app once and open its database, as each worker will; return the settings.

    For gunicorn's master: a mistake stops the start here, with one JSON line and status 2,
    before the workers (which would each print a traceback and be restarted) are forked.
    Nothing is kept open across the fork.
    """

    def build() -> config.Settings:
        app = create_app()
        db = get_db(app)
        try:
            db.check_connection()
        finally:
            db.dispose()
        return get_settings(app)

    return or_exit(build, as_json=True)
