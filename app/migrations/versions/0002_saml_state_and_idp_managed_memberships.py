"""saml state and idp-managed memberships

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:25:56.006810
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saml_requests",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("idp_entity_id", sa.String(length=512), nullable=False),
        sa.Column("next_path", sa.String(length=2048), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("saml_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_saml_requests_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "saml_seen_assertions",
        sa.Column("assertion_id", sa.String(length=256), nullable=False),
        sa.Column("idp_entity_id", sa.String(length=512), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("assertion_id"),
    )
    with op.batch_alter_table("saml_seen_assertions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_saml_seen_assertions_expires_at"), ["expires_at"], unique=False
        )

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idp_entity_id", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("idp_entity_id")

    with op.batch_alter_table("saml_seen_assertions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saml_seen_assertions_expires_at"))

    op.drop_table("saml_seen_assertions")
    with op.batch_alter_table("saml_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saml_requests_expires_at"))

    op.drop_table("saml_requests")
