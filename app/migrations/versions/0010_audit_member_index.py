"""audit: index membership events by member, so a user's page finds their membership changes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Membership events target the group; the member is in ``changes`` ({"member": [old, new]}).
# On PostgreSQL a GIN index over those events' ``changes`` answers "the events naming this
# member" (jsonb containment) without reading the log; SQLite, for small installs, reads them.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_audit_events_member ON audit_events "
            "USING gin (changes jsonb_path_ops) "
            "WHERE action IN ('group:member:add', 'group:member:remove')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_audit_events_member")
