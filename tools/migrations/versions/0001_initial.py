"""Initial schema: items, stories, duplicates, rejections, analyses, approvals, audit, runs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Written by hand; tests/test_db.py checks that autogenerate finds nothing left to do.
Constraint names follow tools.db.NAMING_CONVENTION.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# tools.db.UTCDateTime is a TypeDecorator over this; migrations stay independent of the models.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("first_item_id", sa.String(200), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stories"),
    )
    op.create_index("ix_stories_first_item_id", "stories", ["first_item_id"], unique=True)

    op.create_table(
        "items",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("author_followers", sa.Integer(), nullable=True),
        sa.Column("author_verified", sa.Boolean(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("published_at", UTC_DATETIME, nullable=False),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("dedup_method", sa.String(16), nullable=False),
        sa.Column("nearest_id", sa.String(200), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("story_id", sa.String(32), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"], name="fk_items_story_id_stories"),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
    )
    op.create_index("ix_items_content_hash", "items", ["content_hash"])
    op.create_index("ix_items_published_at", "items", ["published_at"])
    op.create_index("ix_items_verdict", "items", ["verdict"])

    op.create_table(
        "duplicate_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("original_id", sa.String(200), nullable=True),
        sa.Column("story_id", sa.String(32), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_duplicate_links_item_id_items"),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name="fk_duplicate_links_story_id_stories"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_duplicate_links"),
    )
    op.create_index("ix_duplicate_links_item_id", "duplicate_links", ["item_id"])

    op.create_table(
        "rejections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw_excerpt", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rejections"),
    )

    op.create_table(
        "analyses",
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("assets", sa.JSON(), nullable=False),
        sa.Column("urgency", sa.JSON(), nullable=True),
        sa.Column("sentiment", sa.JSON(), nullable=True),
        sa.Column("impact", sa.JSON(), nullable=True),
        sa.Column("route", sa.String(16), nullable=True),
        sa.Column("degraded_nodes", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("timings_ms", sa.JSON(), nullable=False),
        sa.Column("llm_calls", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_analyses_item_id_items"),
        sa.PrimaryKeyConstraint("item_id", name="pk_analyses"),
    )

    op.create_table(
        "recommendations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("widen_bps", sa.Float(), nullable=False),
        sa.Column("horizon_minutes", sa.Integer(), nullable=False),
        sa.Column("move_probability", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("policy_bps", sa.Float(), nullable=False),
        sa.Column("llm_adjusted", sa.Boolean(), nullable=False),
        sa.Column("clamped", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_recommendations_item_id_items"),
        sa.PrimaryKeyConstraint("id", name="pk_recommendations"),
    )
    op.create_index("ix_recommendations_item_id", "recommendations", ["item_id"])

    op.create_table(
        "approvals",
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("thread_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("message_ts", sa.String(64), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_approvals_item_id_items"),
        sa.PrimaryKeyConstraint("item_id", name="pk_approvals"),
        sa.UniqueConstraint("thread_id", name="uq_approvals_thread_id"),
    )
    op.create_index("ix_approvals_status", "approvals", ["status"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("thread_id", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("ts", UTC_DATETIME, nullable=False),
        sa.Column("adjustments", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_decisions_item_id_items"),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_item_id", "decisions", ["item_id"])

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_index("ix_decisions_item_id", table_name="decisions")
    op.drop_table("decisions")
    op.drop_index("ix_approvals_status", table_name="approvals")
    op.drop_table("approvals")
    op.drop_index("ix_recommendations_item_id", table_name="recommendations")
    op.drop_table("recommendations")
    op.drop_table("analyses")
    op.drop_table("rejections")
    op.drop_index("ix_duplicate_links_item_id", table_name="duplicate_links")
    op.drop_table("duplicate_links")
    op.drop_index("ix_items_verdict", table_name="items")
    op.drop_index("ix_items_published_at", table_name="items")
    op.drop_index("ix_items_content_hash", table_name="items")
    op.drop_table("items")
    op.drop_index("ix_stories_first_item_id", table_name="stories")
    op.drop_table("stories")
