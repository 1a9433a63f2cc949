"""``frontdesk serve``: the production server, from a checkout or an installed wheel.

It replaces itself with gunicorn and the packaged settings (``python:config.gunicorn_conf``),
so that systemd or a container supervises gunicorn's own arbiter, and an installed Frontdesk
needs no path to a settings file. Every other knob is a ``FRONTDESK_*`` setting.
"""

from __future__ import annotations

import os
import sys

import click


def gunicorn_argv(bind: str | None, workers: int | None) -> list[str]:
    """The command line ``serve`` executes (this interpreter, so the same virtualenv)."""
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn_conf"]
    if bind:
        argv += ["--bind", bind]
    if workers is not None:
        argv += ["--workers", str(workers)]
    return argv


@click.command()
@click.option("--bind", metavar="HOST:PORT",
              help="Listen address; default FRONTDESK_BIND (127.0.0.1:8000).")
@click.option("--workers", type=click.IntRange(min=1),
              help="gunicorn worker processes; default FRONTDESK_WORKERS (min(4, 2 x cores)).")
def serve(bind: str | None, workers: int | None) -> None:
    """Serve Frontdesk with gunicorn and the packaged settings (run `db upgrade` first)."""
    argv = gunicorn_argv(bind, workers)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 - this interpreter, a fixed module, our own flags
