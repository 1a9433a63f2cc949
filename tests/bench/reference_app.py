"""The reference: the least a Flask + SQLAlchemy app under gunicorn can do to answer
``GET /scim/v2/Users?filter=userName eq "x"`` on the same data: one indexed query, a tiny JSON
list response, no authentication, no logging, no ORM. Likewise for a user's effective
memberships (``GET /api/access/memberships?user=x``, the access part): one statement, standing
memberships joined to their groups UNION ALL the live grants joined to theirs, the user found by
a sub-select on ``user_name_key``.

It uses the engine Frontdesk uses (``app.db.make_engine``: WAL, busy timeout and ``BEGIN`` for
SQLite; the same pool for PostgreSQL), so the ratio measures Frontdesk's own work, not engine
settings. Served by gunicorn with the same worker count: ``tests.bench.reference_app:app``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC
from datetime import datetime

from flask import Flask
from flask import Response
from flask import request
from sqlalchemy import Column
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import literal
from sqlalchemy import null
from sqlalchemy import select
from sqlalchemy import union_all

from app.db import UTCDateTime
from app.db import make_engine
from app.web.serving import WsgiBridge

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
FILTER = re.compile(r'^\s*userName\s+eq\s+"([^"\\]*)"\s*$', re.IGNORECASE)

metadata = MetaData()
users = Table("users", metadata, Column("id", String(36), primary_key=True),
              Column("user_name", String(256)), Column("user_name_key", String(256)))
groups = Table("groups", metadata, Column("id", String(36), primary_key=True),
               Column("display_name", String(256)))
memberships = Table("memberships", metadata, Column("group_id", String(36)),
                    Column("member_id", String(36)))
grants = Table("grants", metadata, Column("id", String(36), primary_key=True),
               Column("user_id", String(36)), Column("group_id", String(36)),
               Column("starts_at", UTCDateTime), Column("ends_at", UTCDateTime))
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


@app.get("/api/access/memberships")
def memberships_of() -> Response:
    name = request.args.get("user", "")
    now = datetime.now(UTC)
    uid = select(users.c.id).where(users.c.user_name_key == name.casefold()).scalar_subquery()
    standing = (select(groups.c.id, groups.c.display_name, literal("scim").label("source"),
                       null().label("grant_id"), null().label("ends_at"))
                .join(memberships, memberships.c.group_id == groups.c.id)
                .where(memberships.c.member_id == uid))
    granted = (select(groups.c.id, groups.c.display_name, literal("grant"), grants.c.id,
                      grants.c.ends_at)
               .join(grants, grants.c.group_id == groups.c.id)
               .where(grants.c.user_id == uid, grants.c.starts_at <= now, grants.c.ends_at > now))
    with engine.connect() as conn:
        rows = conn.execute(union_all(standing, granted)).all()
    return Response(json.dumps({"user": name, "memberships": [
        {"group": row.display_name, "group_id": row.id, "source": row.source,
         "grant_id": row.grant_id, "ends_at": str(row.ends_at) if row.ends_at else None}
        for row in rows]}), content_type="application/json")


# Served like Frontdesk (config/gunicorn_conf.py's asyncio worker), so both pay the same server.
asgi_app = WsgiBridge(app, threads=int(os.environ.get("FRONTDESK_THREADS", "4")),
                      max_body=1_048_576)
