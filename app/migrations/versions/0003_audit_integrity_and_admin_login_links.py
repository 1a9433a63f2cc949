"""audit integrity and admin login links

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:32:20.295497
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.audit import triggers
from app.db import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_login_links",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_table(
        "audit_anchor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_action_seq", ["action", "seq"], unique=False)
        batch_op.create_index("ix_audit_events_actor_seq", ["actor_id", "seq"], unique=False)
        batch_op.create_index("ix_audit_events_outcome_seq", ["outcome", "seq"], unique=False)
        batch_op.create_index("ix_audit_events_target_seq", ["target_id", "seq"], unique=False)

    op.bulk_insert(
        sa.table(
            "audit_anchor",
            sa.column("id", sa.Integer),
            sa.column("seq", sa.Integer),
            sa.column("hash", sa.String),
        ),
        [{"id": 1, "seq": 0, "hash": "0" * 64}],
    )
    # Append-only in the database too. A later batch migration that recreates audit_events on
    # SQLite must install the guard again.
    triggers.install(op.execute, op.get_bind().dialect.name)


def downgrade() -> None:
    triggers.remove(op.execute, op.get_bind().dialect.name)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_target_seq")
        batch_op.drop_index("ix_audit_events_outcome_seq")
        batch_op.drop_index("ix_audit_events_actor_seq")
        batch_op.drop_index("ix_audit_events_action_seq")

    op.drop_table("audit_anchor")
    op.drop_table("admin_login_links")
