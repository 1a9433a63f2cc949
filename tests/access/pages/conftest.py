"""Access page fixtures: the access app (test policies, frozen clock, cast) as the console
tests build it — talking https like production, trusting the demo IdP, with an admin group.

The console's fixtures are imported, not copied: ``settings`` there extends the access
settings here (the test policies), and ``app`` builds the app from it.
"""

from __future__ import annotations

import pytest
from flask import Flask

from app.web.context import get_db
from tests.access.conftest import Cast
from tests.admin.conftest import ADMIN_GROUP
from tests.admin.conftest import app  # noqa: F401 - the https app, from the settings below
from tests.admin.conftest import idp  # noqa: F401 - the demo IdP the app trusts
from tests.admin.conftest import settings  # noqa: F401 - + the IdP and the admin group
from tests.helpers.access import make_group
from tests.helpers.access import make_user


@pytest.fixture
def root(cast: Cast, app: Flask) -> str:  # noqa: F811 - app is the fixture imported above
    """An admin: a person in the admin group, signed in with SSO like everyone else."""
    db = get_db(app)
    user_id = make_user(db, "root@example.com")
    make_group(db, ADMIN_GROUP, (user_id,))
    return user_id
