"""Tables. A user or group keeps its whole SCIM document in ``doc`` and copies of the values
that are looked up, made unique or sorted on into indexed columns and child rows.

- ``users.user_name_key`` / ``groups.display_name_key`` hold the casefolded name with a unique
  index: case-insensitive uniqueness that holds under races on both SQLite and PostgreSQL.
- ``user_values`` indexes multi-valued attributes (emails, phoneNumbers, addresses, ...), one row
  an element, so ``emails[type eq "work"].value eq "x"`` is an indexed EXISTS, not a scan.
- ``memberships`` is one row per (group, member): adding one member to a 100 000-member group
  inserts one row and reads none of the others.
- ``audit_events`` is a hash chain; ``audit_head`` holds its tip and is the lock that orders
  writers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import func
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from app.db import Base
from app.db import UTCDateTime
from app.db import new_id
from app.db import utcnow

JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_name: Mapped[str] = mapped_column(String(256))
    user_name_key: Mapped[str] = mapped_column(String(256), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(256), index=True)
    display_name: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    doc: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(16), default="scim")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Lifecycle (app.lifecycle): the last thing the person did themselves (never an IdP's
    # push), a dormant rule's pending warning, and a local suspension an IdP push leaves alone.
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_activity_kind: Mapped[str | None] = mapped_column(String(16))
    dormant_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dormant_rule: Mapped[str | None] = mapped_column(String(64))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_reason: Mapped[str | None] = mapped_column(String(512))
    # An admin lifted a suspension or re-activated the user: the dormant clock restarts here.
    reinstated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserValue(Base):
    """One element of a multi-valued user attribute, for filtering in SQL."""

    __tablename__ = "user_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    attr: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    value_key: Mapped[str | None] = mapped_column(String(512))
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    __table_args__ = (Index("ix_user_values_attr_value_key", "attr", "value_key"),)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    display_name: Mapped[str] = mapped_column(String(256))
    display_name_key: Mapped[str] = mapped_column(String(256), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(256), index=True)
    doc: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(16), default="scim")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Membership(Base):
    """A direct member (user or group) of a group; ``expires_at`` makes a time-bound grant."""

    __tablename__ = "memberships"

    group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    member_type: Mapped[str] = mapped_column(String(8), default="User")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    granted_by: Mapped[str | None] = mapped_column(String(256))
    reason: Mapped[str | None] = mapped_column(Text)
    # Set when an IdP's group claim made this membership: only that IdP's sync may remove it.
    idp_entity_id: Mapped[str | None] = mapped_column(String(512))


class IdentityLink(Base):
    """Who a user is at an IdP: (IdP entity id, NameID) is the identity, never an email."""

    __tablename__ = "identity_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idp_entity_id: Mapped[str] = mapped_column(String(512))
    name_id: Mapped[str] = mapped_column(String(512))
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("idp_entity_id", "name_id", name="uq_identity_links_idp"),)


class ApiToken(Base):
    """A bearer token: only a SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(256), default="scim")
    # A personal token acts as this user (access requests and approvals); None: a service token.
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """One audit event; ``seq`` orders the chain and ``hash`` seals the row and its predecessor."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(512), index=True)
    actor_label: Mapped[str | None] = mapped_column(String(512))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_kind: Mapped[str | None] = mapped_column(String(16))
    target_id: Mapped[str | None] = mapped_column(String(512))
    target_label: Mapped[str | None] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    reason: Mapped[str | None] = mapped_column(String(512))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    # (filter, seq) pairs: a filtered, newest-first page walks one index and stops early.
    __table_args__ = (
        Index("ix_audit_events_target", "target_kind", "target_id"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_actor_seq", "actor_id", "seq"),
        Index("ix_audit_events_target_seq", "target_id", "seq"),
        Index("ix_audit_events_outcome_seq", "outcome", "seq"),
        Index("ix_audit_events_target_label_lower", func.lower(text("target_label"))),
    )


class AuditHead(Base):
    """The tip of the audit chain: one row, locked by every writer to append in order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class SamlRequest(Base):
    """An AuthnRequest we sent: single use, bound to one browser, short-lived."""

    __tablename__ = "saml_requests"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    idp_entity_id: Mapped[str] = mapped_column(String(512))
    next_path: Mapped[str] = mapped_column(String(2048), default="/")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SeenAssertion(Base):
    """An assertion ID already accepted once; kept until the assertion expires."""

    __tablename__ = "saml_seen_assertions"

    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    idp_entity_id: Mapped[str] = mapped_column(String(512))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditAnchor(Base):
    """Where the chain starts after a prune: the seq and hash of the last pruned event."""

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed checkpoint of the chain (``app.audit.checkpoint``). The signature is made with a
    key the database never holds, so a rewritten chain cannot come with matching checkpoints.
    ``period`` claims a scheduled checkpoint: one per period across every worker and instance;
    checkpoints asked for by hand have none."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("period", name="uq_audit_checkpoints_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    seq: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))


class AdminLoginLink(Base):
    """A one-time, short-lived admin sign-in link; only a hash of its secret is kept."""

    __tablename__ = "admin_login_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessRequest(Base):
    """A request for one user's membership of one group, for a while, decided under a policy.

    The user's and group's names are copied in, so the record still reads right after either
    is renamed or deleted: requests and their decisions are kept for the auditors.
    """

    __tablename__ = "access_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL"), index=True)
    user_name: Mapped[str] = mapped_column(String(256))
    group_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("groups.id", ondelete="SET NULL"), index=True)
    group_name: Mapped[str] = mapped_column(String(256))
    requested_by: Mapped[str] = mapped_column(String(512))  # actor label of who asked
    requested_via: Mapped[str] = mapped_column(String(16))  # session | token | cli
    policy_name: Mapped[str] = mapped_column(String(64))
    policy_digest: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    ticket: Mapped[str | None] = mapped_column(String(128))
    approvals_needed: Mapped[int] = mapped_column(Integer, default=1)
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)
    # Break-glass requests stay flagged until an approver has looked at them afterwards.
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    auth_context: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    pending_until: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(512))
    decision_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_access_requests_state_pending_until", "state", "pending_until"),)


class AccessReview(Base):
    """One reviewer's decision on one request (approve or deny), with how they signed in."""

    __tablename__ = "access_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("access_requests.id", ondelete="CASCADE"), index=True)
    reviewer_key: Mapped[str] = mapped_column(String(512))  # user id, or the actor's id
    reviewer_label: Mapped[str] = mapped_column(String(512))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    auth_context: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # One decision per reviewer per request: N approvals are N people, even under races.
    __table_args__ = (UniqueConstraint("request_id", "reviewer_key",
                                       name="uq_access_reviews_reviewer"),)


class Grant(Base):
    """A time-bound membership: counts while ``starts_at <= now < ends_at``, whatever ``state``.

    ``state`` records what the sweeper has announced (``scheduled``, ``active``, ``ended``,
    ``revoked``); reads never trust it. Revoking sets ``ends_at`` to the moment of revocation,
    so the row stays as the record. An extension is a new grant starting where this one ends.
    """

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    request_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("access_requests.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL"))
    user_name: Mapped[str] = mapped_column(String(256))
    group_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("groups.id", ondelete="SET NULL"))
    group_name: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    extended_from: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("grants.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_by: Mapped[str | None] = mapped_column(String(512))
    end_reason: Mapped[str | None] = mapped_column(Text)
    ending_soon_sent: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        # Effective membership: a user's grants, live at `now` (both ends bound in the query).
        Index("ix_grants_user_window", "user_id", "ends_at", "starts_at"),
        Index("ix_grants_group_window", "group_id", "ends_at", "starts_at"),
        # The sweeper: what to announce next.
        Index("ix_grants_state_starts", "state", "starts_at"),
        Index("ix_grants_state_ends", "state", "ends_at"),
    )


class OutboxMessage(Base):
    """A notification to deliver (a webhook call), written in the transaction of the change it
    announces and delivered after commit: a crash loses none, and a delivered one is never sent
    again (``delivered_at`` is set in the same transaction that claims it)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), default=new_id)  # the receiver's dedup key
    endpoint: Mapped[str] = mapped_column(String(64))  # webhook name in the config
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # gave up after the last try
    last_error: Mapped[str | None] = mapped_column(String(512))

    __table_args__ = (Index("ix_outbox_due", "delivered_at", "failed_at", "next_attempt_at"),)


class AuthFailure(Base):
    """Failed authentications of one kind (``bearer``, ``login_link``) from one source address
    in the current fixed window: the throttle every worker and instance shares
    (``app.throttle``). A row whose window has ended is stale and pruned by the jobs."""

    __tablename__ = "auth_failures"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_ends: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_auth_failures_window_ends", "window_ends"),)
