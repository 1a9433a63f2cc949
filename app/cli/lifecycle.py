"""``frontdesk lifecycle run``: do now whatever time-driven work is due, for cron."""

from __future__ import annotations

import click

from app.cli.common import open_app
from app.jobs import run_due
from app.web.context import get_db


@click.group()
def lifecycle() -> None:
    """Account lifecycle: dormant-account rules (see also `frontdesk users dormant`)."""


@lifecycle.command("run")
def lifecycle_run() -> None:
    """Do now whatever is due (dormant warnings, suspensions, deactivations, access sweeps,
    webhook deliveries): exactly what the built-in schedule does."""
    with open_app() as app:
        result = run_due(get_db(app))
    click.echo(f"warned {result.warned}, deactivated {result.deactivated}, suspended "
               f"{result.suspended} dormant users; expired {result.expired} requests, started "
               f"{result.started} grants, ended {result.ended}; delivered {result.delivered} "
               "webhooks")
