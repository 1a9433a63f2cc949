"""The ``frontdesk`` command: tokens, migrations, the audit log, users, admins, access.

Every change goes through the core (``app.services``, ``app.admins``, ``app.audit.prune``) with
the CLI user as the audit actor, and ``db upgrade`` runs the migrations; reads take a read
session, so they never wait for a writer. Each command builds the app through
``app.web.factory.create_app``, as gunicorn does.
"""

from __future__ import annotations

import click

from app.cli.access import access
from app.cli.admin import admin
from app.cli.audit import audit
from app.cli.database import db
from app.cli.lifecycle import lifecycle
from app.cli.tokens import tokens
from app.cli.users import users


@click.group()
def main() -> None:
    """Frontdesk: SCIM 2.0 provisioning and SAML sign-up on one user store and audit log."""


for group in (db, tokens, audit, admin, users, access, lifecycle):
    main.add_command(group)
