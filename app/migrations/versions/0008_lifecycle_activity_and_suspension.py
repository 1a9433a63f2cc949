"""users' last activity, dormant-rule warnings and local suspensions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_activity_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("last_activity_kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("dormant_warned_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("dormant_rule", sa.String(64), nullable=True))
        batch.add_column(sa.Column("suspended_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("suspended_reason", sa.String(512), nullable=True))
        batch.add_column(sa.Column("reinstated_at", UTCDateTime(), nullable=True))
    op.create_index("ix_users_last_activity_at", "users", ["last_activity_at"])
    # A successful sign-in was activity before it was called that.
    op.execute("UPDATE users SET last_activity_at = last_login_at, last_activity_kind = 'sign_in' "
               "WHERE last_login_at IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_users_last_activity_at", table_name="users")
    with op.batch_alter_table("users") as batch:
        for column in ("reinstated_at", "suspended_reason", "suspended_at", "dormant_rule",
                       "dormant_warned_at", "last_activity_kind", "last_activity_at"):
            batch.drop_column(column)
