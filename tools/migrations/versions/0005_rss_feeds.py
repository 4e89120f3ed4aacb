"""Per-feed state of the RSS/Atom poller: validators, last poll and seen entries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rss_feeds",
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.String(100), nullable=True),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("url", name="pk_rss_feeds"),
    )
    op.create_table(
        "rss_seen_entries",
        sa.Column("feed_url", sa.String(2000), nullable=False),
        sa.Column("entry_id", sa.String(200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_url"], ["rss_feeds.url"], name="fk_rss_seen_entries_feed_url_rss_feeds"
        ),
        sa.PrimaryKeyConstraint("feed_url", "entry_id", name="pk_rss_seen_entries"),
    )
    op.create_index("ix_rss_seen_entries_seen_at", "rss_seen_entries", ["seen_at"])


def downgrade() -> None:
    op.drop_table("rss_seen_entries")
    op.drop_table("rss_feeds")
