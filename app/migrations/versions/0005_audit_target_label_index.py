"""audit: index lower(target_label) so a filter by userName/displayName is an index lookup

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain CREATE INDEX (no batch copy): recreating audit_events on SQLite would drop its
    # append-only triggers.
    op.create_index(
        "ix_audit_events_target_label_lower", "audit_events", [sa.text("lower(target_label)")]
    )
    # PostgreSQL keeps no statistics for an expression until ANALYZE; without them the planner
    # walks the whole log backwards instead of using the index.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE audit_events")


def downgrade() -> None:
    op.drop_index("ix_audit_events_target_label_lower", table_name="audit_events")
