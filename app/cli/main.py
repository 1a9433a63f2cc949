"""The ``frontdesk`` command: tokens, migrations, the audit log, users, admins, access, serve.

Every change goes through the core (``app.services``, ``app.admins``, ``app.audit.prune``) with
the CLI user as the audit actor, and ``db upgrade`` runs the migrations; reads take a read
session, so they never wait for a writer. Each command builds the app through
``app.web.factory.create_app``, as gunicorn does; a misconfiguration ends it with one line and
exit status 2 (``app.web.startup``), its traceback only with ``--debug``.
"""

from __future__ import annotations

from typing import Any

import click

from app.cli.access import access
from app.cli.admin import admin
from app.cli.audit import audit
from app.cli.database import db
from app.cli.lifecycle import lifecycle
from app.cli.serve import serve
from app.cli.tokens import tokens
from app.cli.users import users
from app.web.startup import MISCONFIGURATION
from app.web.startup import misconfigured


class FrontdeskGroup(click.Group):
    """The command group that turns a misconfiguration into one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MISCONFIGURATION as err:
            misconfigured(err, debug=bool(ctx.params.get("debug")))


@click.group(cls=FrontdeskGroup)
@click.version_option(package_name="frontdesk", prog_name="frontdesk",
                      message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show the traceback of a misconfiguration too.")
def main(debug: bool) -> None:
    """Frontdesk: SCIM 2.0 provisioning and SAML sign-up on one user store and audit log."""


for group in (db, tokens, audit, admin, users, access, lifecycle, serve):
    main.add_command(group)
