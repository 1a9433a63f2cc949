"""auth_failures: failed authentications per source and window, the shared throttle

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_ends", UTCDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
    )
    op.create_index("ix_auth_failures_window_ends", "auth_failures", ["window_ends"])


def downgrade() -> None:
    op.drop_index("ix_auth_failures_window_ends", table_name="auth_failures")
    op.drop_table("auth_failures")
