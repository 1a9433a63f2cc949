"""access requests, reviews, grants, the outbox, and personal tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from app.db import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("group_id", sa.String(36), sa.ForeignKey("groups.id", ondelete="SET NULL")),
        sa.Column("group_name", sa.String(256), nullable=False),
        sa.Column("requested_by", sa.String(512), nullable=False),
        sa.Column("requested_via", sa.String(16), nullable=False),
        sa.Column("policy_name", sa.String(64), nullable=False),
        sa.Column("policy_digest", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ticket", sa.String(128), nullable=True),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("auth_context", JSONDoc, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("pending_until", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(512), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_access_requests_user_id", "access_requests", ["user_id"])
    op.create_index("ix_access_requests_group_id", "access_requests", ["group_id"])
    op.create_index("ix_access_requests_state", "access_requests", ["state"])
    op.create_index("ix_access_requests_needs_review", "access_requests", ["needs_review"])
    op.create_index("ix_access_requests_created_at", "access_requests", ["created_at"])
    op.create_index("ix_access_requests_state_pending_until", "access_requests",
                    ["state", "pending_until"])

    op.create_table(
        "access_reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36),
                  sa.ForeignKey("access_requests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reviewer_key", sa.String(512), nullable=False),
        sa.Column("reviewer_label", sa.String(512), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("auth_context", JSONDoc, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("request_id", "reviewer_key", name="uq_access_reviews_reviewer"),
    )
    op.create_index("ix_access_reviews_request_id", "access_reviews", ["request_id"])

    op.create_table(
        "grants",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("request_id", sa.String(36),
                  sa.ForeignKey("access_requests.id", ondelete="SET NULL")),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("group_id", sa.String(36), sa.ForeignKey("groups.id", ondelete="SET NULL")),
        sa.Column("group_name", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("extended_from", sa.String(36), sa.ForeignKey("grants.id", ondelete="SET NULL")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_by", sa.String(512), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("ending_soon_sent", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_grants_request_id", "grants", ["request_id"])
    op.create_index("ix_grants_user_window", "grants", ["user_id", "ends_at", "starts_at"])
    op.create_index("ix_grants_group_window", "grants", ["group_id", "ends_at", "starts_at"])
    op.create_index("ix_grants_state_starts", "grants", ["state", "starts_at"])
    op.create_index("ix_grants_state_ends", "grants", ["state", "ends_at"])
    op.create_index("ix_grants_extended_from", "grants", ["extended_from"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
    )
    op.create_index("ix_outbox_due", "outbox", ["delivered_at", "failed_at", "next_attempt_at"])

    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(36), nullable=True))
        batch_op.create_foreign_key("fk_api_tokens_user_id", "users", ["user_id"], ["id"],
                                    ondelete="CASCADE")
        batch_op.create_index("ix_api_tokens_user_id", ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_index("ix_api_tokens_user_id")
        batch_op.drop_constraint("fk_api_tokens_user_id", type_="foreignkey")
        batch_op.drop_column("user_id")
    op.drop_table("outbox")
    op.drop_table("grants")
    op.drop_table("access_reviews")
    op.drop_table("access_requests")
