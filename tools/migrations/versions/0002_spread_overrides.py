"""Spread overrides: approved widenings with their validity window.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "spread_overrides",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("story_id", sa.String(32), nullable=True),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("bps", sa.Float(), nullable=False),
        sa.Column("starts_at", UTC_DATETIME, nullable=False),
        sa.Column("until", UTC_DATETIME, nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_spread_overrides_item_id_items"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_spread_overrides"),
        sa.UniqueConstraint("item_id", "asset", name="uq_spread_overrides_item_id"),
    )
    op.create_index("ix_spread_overrides_item_id", "spread_overrides", ["item_id"])
    op.create_index("ix_spread_overrides_asset", "spread_overrides", ["asset"])
    op.create_index("ix_spread_overrides_until", "spread_overrides", ["until"])


def downgrade() -> None:
    op.drop_table("spread_overrides")
