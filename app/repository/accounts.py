"""Repositories of users, groups and memberships: changed in a unit of work, read on any session."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app import catalog
from app.clock import Clock
from app.clock import SystemClock
from app.errors import NotFoundError
from app.models import Group
from app.models import IdentityLink
from app.models import Membership
from app.models import User
from app.models import UserValue
from app.repository.common import CHUNK
from app.repository.common import chunked
from app.repository.common import flush_unique
from app.repository.common import fold


@dataclass(frozen=True)
class MemberInfo:
    """A member as a group lists it."""

    id: str
    type: str
    display: str | None


# Built once (a hot path: every user list renders groups); ids expand at execution.
_GROUPS_OF = (
    select(Membership.member_id, Group.id, Group.display_name)
    .join(Group, Group.id == Membership.group_id)
    .where(Membership.member_id.in_(bindparam("ids", expanding=True)))
    .order_by(Group.display_name_key)
)


class UserRepository:
    """Users: ``get`` raises ``NotFoundError``, ``find`` returns None. ``clock`` stamps what
    they write (the unit of work passes the database's; readers need none)."""

    def __init__(self, session: Session, clock: Clock | None = None) -> None:
        self.session = session
        self.clock: Clock = clock or SystemClock()

    def find(self, user_id: str, *, lock: bool = False) -> User | None:
        stmt = select(User).where(User.id == user_id)
        if lock:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def get(self, user_id: str, *, lock: bool = False) -> User:
        user = self.find(user_id, lock=lock)
        if user is None:
            raise NotFoundError(f"User {user_id} not found")
        return user

    def find_by_user_name(self, user_name: str) -> User | None:
        return self.session.execute(
            select(User).where(User.user_name_key == fold(user_name))
        ).scalar_one_or_none()

    def find_by_user_name_for_update(self, user_name: str) -> User | None:
        return self.session.execute(
            select(User).where(User.user_name_key == fold(user_name)).with_for_update()
        ).scalar_one_or_none()

    def find_linked(self, idp_entity_id: str, name_id: str) -> User | None:
        """Return the user linked to (IdP, NameID), locked, or None."""
        user_id = self.session.execute(
            select(IdentityLink.user_id).where(IdentityLink.idp_entity_id == idp_entity_id,
                                               IdentityLink.name_id == name_id)
        ).scalar_one_or_none()
        return self.find(user_id, lock=True) if user_id is not None else None

    def linked_idps(self, user_id: str) -> list[str]:
        """Return the IdPs the user has signed in through."""
        return list(self.session.execute(
            select(IdentityLink.idp_entity_id).where(IdentityLink.user_id == user_id)
        ).scalars())

    def links(self, user_id: str) -> list[IdentityLink]:
        return list(self.session.execute(
            select(IdentityLink).where(IdentityLink.user_id == user_id)
            .order_by(IdentityLink.created_at)
        ).scalars())

    def link(self, user_id: str, idp_entity_id: str, name_id: str) -> None:
        """Link (IdP, NameID) to a user; a link that exists already raises ``ConflictError``."""
        self.session.add(IdentityLink(idp_entity_id=idp_entity_id, name_id=name_id,
                                      user_id=user_id))
        flush_unique(self.session, "this identity is already linked")

    def add(self, user: User) -> None:
        """Insert a user; a taken userName raises ``ConflictError``."""
        self.session.add(user)
        self.save(user)

    def save(self, user: User) -> None:
        """Flush changes to a user; a taken userName raises ``ConflictError``."""
        flush_unique(self.session, f"userName '{user.user_name}' is already taken")

    def index_values(self, user: User, *, replace: bool) -> None:
        """Rewrite the user's rows in ``user_values`` from its document."""
        if replace:
            self.session.execute(delete(UserValue).where(UserValue.user_id == user.id))
        rows = []
        for attr in catalog.INDEXED_MULTI:
            for position, element in enumerate(user.doc.get(attr) or []):
                if not isinstance(element, dict):
                    continue
                value = element.get("value")
                rows.append({
                    "user_id": user.id,
                    "attr": attr,
                    "position": position,
                    "value_key": fold(value)[:512] if isinstance(value, str) else None,
                    "data": element,
                })
        if rows:
            self.session.execute(insert(UserValue), rows)

    def delete(self, user: User) -> list[str]:
        """Delete a user with their memberships and links; return the groups they left."""
        left = list(self.session.execute(
            delete(Membership).where(Membership.member_id == user.id)
            .returning(Membership.group_id)
        ).scalars())
        if left:
            touch_groups(self.session, left, self.clock.now())
        self.session.execute(delete(UserValue).where(UserValue.user_id == user.id))
        self.session.execute(delete(IdentityLink).where(IdentityLink.user_id == user.id))
        self.session.delete(user)
        self.session.flush()
        return sorted(left)

    def groups_of(self, user_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """Return each user's direct groups as (group id, displayName), in one statement."""
        result: dict[str, list[tuple[str, str]]] = {uid: [] for uid in user_ids}
        if not user_ids:
            return result
        rows = self.session.connection().execute(_GROUPS_OF, {"ids": list(user_ids)})
        for member_id, group_id, display in rows:
            result[member_id].append((group_id, display))
        return result


def touch_groups(session: Session, group_ids: Iterable[str], now: datetime) -> None:
    """Bump version and lastModified (to ``now``) of groups whose membership changed (sorted:
    no deadlock)."""
    ids = sorted(set(group_ids))
    if ids:
        session.execute(
            update(Group).where(Group.id.in_(ids))
            .values(version=Group.version + 1, updated_at=now)
        )


class GroupRepository:
    """Groups and their memberships; membership changes are deltas, never whole-group reads.
    ``clock`` stamps what they write (the unit of work passes the database's)."""

    def __init__(self, session: Session, clock: Clock | None = None) -> None:
        self.session = session
        self.clock: Clock = clock or SystemClock()

    def find(self, group_id: str, *, lock: bool = False) -> Group | None:
        stmt = select(Group).where(Group.id == group_id)
        if lock:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def get(self, group_id: str, *, lock: bool = False) -> Group:
        group = self.find(group_id, lock=lock)
        if group is None:
            raise NotFoundError(f"Group {group_id} not found")
        return group

    def find_by_display_name(self, display_name: str) -> Group | None:
        return self.session.execute(
            select(Group).where(Group.display_name_key == fold(display_name))
        ).scalar_one_or_none()

    def add(self, group: Group) -> None:
        """Insert a group; a taken displayName raises ``ConflictError``."""
        self.session.add(group)
        self.save(group)

    def save(self, group: Group) -> None:
        """Flush changes to a group; a taken displayName raises ``ConflictError``."""
        flush_unique(self.session, f"displayName '{group.display_name}' is already taken")

    def delete(self, group: Group) -> None:
        """Delete a group, its memberships, and its membership in other groups."""
        parents = list(self.session.execute(
            delete(Membership).where(Membership.member_id == group.id)
            .returning(Membership.group_id)
        ).scalars())
        touch_groups(self.session, parents, self.clock.now())
        self.session.execute(delete(Membership).where(Membership.group_id == group.id))
        self.session.delete(group)
        self.session.flush()

    def find_by_display_names(self, names: Iterable[str]) -> list[Group]:
        """Return the groups whose displayName is one of ``names`` (case-insensitively)."""
        keys = list({fold(n) for n in names})
        if not keys:
            return []
        return list(self.session.execute(
            select(Group).where(Group.display_name_key.in_(keys))
        ).scalars())

    def managed_by_idp(self, member_id: str, idp_entity_id: str) -> list[tuple[str, str]]:
        """Return (group id, displayName) of memberships an IdP's group claim made."""
        rows = self.session.execute(
            select(Membership.group_id, Group.display_name)
            .join(Group, Group.id == Membership.group_id)
            .where(Membership.member_id == member_id,
                   Membership.idp_entity_id == idp_entity_id)
        )
        return [(gid, name) for gid, name in rows]

    def member_types(self, ids: Sequence[str]) -> dict[str, str]:
        """Return which of ``ids`` exist, as id → "User" or "Group", in one statement."""
        if not ids:
            return {}
        found: dict[str, str] = {}
        for chunk in chunked(list(dict.fromkeys(ids))):
            stmt = union_all(
                select(User.id, literal("User")).where(User.id.in_(chunk)),
                select(Group.id, literal("Group")).where(Group.id.in_(chunk)),
            )
            found.update((row[0], row[1]) for row in self.session.execute(stmt))
        return found

    def member_labels(self, ids: Sequence[str]) -> dict[str, str]:
        """Return id → userName (users) or displayName (groups) for ``ids``, in one statement
        per chunk (the audit events of a membership change name their members)."""
        labels: dict[str, str] = {}
        for chunk in chunked(list(dict.fromkeys(ids))):
            stmt = union_all(
                select(User.id, User.user_name).where(User.id.in_(chunk)),
                select(Group.id, Group.display_name).where(Group.id.in_(chunk)),
            )
            labels.update((row[0], row[1]) for row in self.session.execute(stmt))
        return labels

    def members(self, group_ids: Sequence[str]) -> dict[str, list[MemberInfo]]:
        """Return the members of each group with their display names, in one statement."""
        result: dict[str, list[MemberInfo]] = {gid: [] for gid in group_ids}
        if not group_ids:
            return result
        member_group = Group.__table__.alias("member_group")
        rows = self.session.execute(
            select(Membership.group_id, Membership.member_id, Membership.member_type,
                   func.coalesce(User.display_name, User.user_name, member_group.c.display_name))
            .outerjoin(User, User.id == Membership.member_id)
            .outerjoin(member_group, member_group.c.id == Membership.member_id)
            .where(Membership.group_id.in_(list(group_ids)))
            .order_by(Membership.group_id, Membership.created_at, Membership.member_id)
        )
        for group_id, member_id, member_type, display in rows:
            result[group_id].append(MemberInfo(member_id, member_type, display))
        return result

    def lock_members(self, members: dict[str, str]) -> set[str]:
        """Lock these users' and groups' rows against deletion until commit (PostgreSQL
        ``FOR KEY SHARE``; SQLite writers are serialised anyway); return the ids that exist."""
        found: set[str] = set()
        for model, kind in ((User, "User"), (Group, "Group")):
            ids = sorted(i for i, t in members.items() if t == kind)
            for chunk in chunked(ids):
                found.update(self.session.execute(
                    select(model.id).where(model.id.in_(chunk))
                    .with_for_update(read=True, key_share=True)
                ).scalars())
        return found

    def add_members(self, group_id: str, members: dict[str, str], granted_by: str | None,
                    *, idp_entity_id: str | None = None) -> list[str]:
        """Insert memberships that do not exist yet; return the ids actually added."""
        if not members:
            return []
        dialect = self.session.get_bind().dialect.name
        insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
        now = self.clock.now()
        added: list[str] = []
        rows = [
            {"group_id": group_id, "member_id": mid, "member_type": mtype, "created_at": now,
             "granted_by": granted_by, "idp_entity_id": idp_entity_id}
            for mid, mtype in members.items()
        ]
        # One multi-row INSERT per chunk: a statement binds at most ~32 000 parameters.
        for chunk in chunked(rows, CHUNK // 6):
            stmt = insert_fn(Membership).values(chunk).on_conflict_do_nothing()
            added.extend(self.session.execute(stmt.returning(Membership.member_id)).scalars())
        return added

    def remove_members(self, group_id: str, ids: Sequence[str]) -> list[str]:
        """Delete the given memberships; return the ids actually removed."""
        removed: list[str] = []
        for chunk in chunked(list(ids)):
            removed.extend(self.session.execute(
                delete(Membership)
                .where(Membership.group_id == group_id, Membership.member_id.in_(chunk))
                .returning(Membership.member_id)
            ).scalars())
        return removed

    def remove_all_members(self, group_id: str, keep: Sequence[str] = ()) -> list[str]:
        """Delete every membership of the group except ``keep``; return the removed ids."""
        cond = Membership.group_id == group_id
        if len(keep) > CHUNK:
            # Too many to bind in one NOT IN: a full replace is O(group) anyway, so read the
            # member ids and delete the difference in chunks.
            current = self.session.execute(
                select(Membership.member_id).where(cond)
            ).scalars()
            kept = set(keep)
            return self.remove_members(group_id, [m for m in current if m not in kept])
        if keep:
            cond = and_(cond, Membership.member_id.not_in(list(keep)))
        return list(self.session.execute(
            delete(Membership).where(cond).returning(Membership.member_id)
        ).scalars())

    def would_cycle(self, group_id: str, member_group_ids: Sequence[str]) -> bool:
        """Return whether making these groups members of ``group_id`` creates a cycle."""
        if not member_group_ids:
            return False
        if group_id in member_group_ids:
            return True
        # Walk up from group_id through its parent groups; nesting is shallow in practice.
        frontier, seen = {group_id}, {group_id}
        targets = set(member_group_ids)
        while frontier:
            parents = set(self.session.execute(
                select(Membership.group_id).where(Membership.member_id.in_(list(frontier)))
            ).scalars()) - seen
            if parents & targets:
                return True
            seen |= parents
            frontier = parents
        return False
