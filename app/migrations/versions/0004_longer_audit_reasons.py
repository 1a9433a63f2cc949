"""longer audit reasons: an admin's reason in words, not only a refusal code

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite does not enforce VARCHAR lengths, and a batch migration would recreate
    # audit_events without its append-only triggers: widen on PostgreSQL only, where
    # widening a varchar rewrites no row (so the append-only trigger is not involved).
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_events", "reason", type_=sa.String(length=512),
                        existing_type=sa.String(length=64), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_events", "reason", type_=sa.String(length=64),
                        existing_type=sa.String(length=512), existing_nullable=True)
