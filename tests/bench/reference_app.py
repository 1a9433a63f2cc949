"""The reference: the least a Flask + SQLAlchemy app under gunicorn can do to answer
``GET /scim/v2/Users?filter=userName eq "x"`` on the same data: one indexed query, a tiny JSON
list response, no authentication, no logging, no ORM.

It uses the engine Frontdesk uses (``app.db.make_engine``: WAL, busy timeout and ``BEGIN`` for
SQLite; the same pool for PostgreSQL), so the ratio measures Frontdesk's own work, not engine
settings. Served by gunicorn with the same worker count: ``tests.bench.reference_app:app``.
"""

from __future__ import annotations

import json
import os
import re

from flask import Flask
from flask import Response
from flask import request
from sqlalchemy import Column
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import select

from app.db import make_engine

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
FILTER = re.compile(r'^\s*userName\s+eq\s+"([^"\\]*)"\s*$', re.IGNORECASE)

users = Table("users", MetaData(), Column("id", String(36), primary_key=True),
              Column("user_name", String(256)), Column("user_name_key", String(256)))
engine = make_engine(os.environ["FRONTDESK_DATABASE_URL"])
app = Flask(__name__)


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/scim+json")


@app.get("/healthz")
def healthz() -> Response:
    return _json({"status": "ok"})


@app.get("/scim/v2/Users")
def find_user() -> Response:
    match = FILTER.match(request.args.get("filter", ""))
    if match is None:
        return _json({"detail": 'only filter=userName eq "..." is supported'}, 400)
    with engine.connect() as conn:
        rows = conn.execute(
            select(users.c.id, users.c.user_name)
            .where(users.c.user_name_key == match.group(1).casefold())
        ).all()
    return _json({
        "schemas": [LIST_RESPONSE],
        "totalResults": len(rows),
        "Resources": [{"id": row.id, "userName": row.user_name} for row in rows],
    })
