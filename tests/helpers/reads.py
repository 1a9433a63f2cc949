"""What the database holds, read directly (not through the API under test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from app.db import Database
from app.models import Group
from app.models import IdentityLink
from app.models import Membership
from app.models import User


def rows(db: Database, sql: str) -> list[Any]:
    """The rows of one plain SQL statement."""
    with db.engine.connect() as conn:
        return list(conn.exec_driver_sql(sql).all())


def count(db: Database, table: str) -> int:
    return int(rows(db, f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608


def users(db: Database) -> list[User]:
    with db.read_session() as session:
        return list(session.execute(select(User).order_by(User.created_at)).scalars())


def user_by_name(db: Database, user_name: str) -> User | None:
    with db.read_session() as session:
        return session.execute(
            select(User).where(User.user_name_key == user_name.casefold())
        ).scalar_one_or_none()


def user_count(db: Database) -> int:
    with db.read_session() as session:
        return int(session.execute(select(func.count()).select_from(User)).scalar_one())


def links(db: Database, user_id: str) -> list[tuple[str, str]]:
    """(IdP entity id, NameID) of each identity link of one user."""
    with db.read_session() as session:
        result = session.execute(
            select(IdentityLink.idp_entity_id, IdentityLink.name_id)
            .where(IdentityLink.user_id == user_id).order_by(IdentityLink.id))
        return [(a, b) for a, b in result]


def memberships(db: Database, user_id: str) -> dict[str, str | None]:
    """{group displayName: IdP entity id that manages it (None: SCIM/admin)} for one user."""
    with db.read_session() as session:
        result = session.execute(
            select(Group.display_name, Membership.idp_entity_id)
            .join(Group, Group.id == Membership.group_id)
            .where(Membership.member_id == user_id))
        return {name: managed for name, managed in result}


def group_names(db: Database) -> set[str]:
    with db.read_session() as session:
        return set(session.execute(select(Group.display_name)).scalars())


def snapshot(db: Database) -> tuple[Any, ...]:
    """Users, memberships, identity links and groups: all a refused login must leave alone."""
    with db.read_session() as session:
        user_rows = sorted(
            (u.id, u.user_name, u.version, u.active, repr(sorted(u.doc.items())),
             u.last_login_at)
            for u in session.execute(select(User)).scalars())
        member_rows = sorted(
            (m.group_id, m.member_id, m.idp_entity_id)
            for m in session.execute(select(Membership)).scalars())
        link_rows = sorted(
            (link.idp_entity_id, link.name_id, link.user_id)
            for link in session.execute(select(IdentityLink)).scalars())
        group_rows = sorted(
            (g.id, g.display_name, g.version)
            for g in session.execute(select(Group)).scalars())
    return (user_rows, member_rows, link_rows, group_rows)


WATCHED = ("users", "groups", "memberships", "user_values", "audit_events")


def table_state(db: Database) -> dict[str, list[Any]]:
    """Every row of every watched table (users, groups, memberships, indexed values, audit
    events), in a stable order."""
    with db.engine.connect() as conn:
        return {t: sorted(map(repr, conn.exec_driver_sql(f"SELECT * FROM {t}").all()))  # noqa: S608
                for t in WATCHED}


@contextmanager
def nothing_written(db: Database) -> Iterator[None]:
    """Assert that the block changed no watched row."""
    before = table_state(db)
    yield
    assert table_state(db) == before
