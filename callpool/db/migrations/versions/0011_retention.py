"""Retention: per-site days to keep raw AMI events, page views and sessions

Three nullable columns on ``sites`` (NULL keeps forever, so an upgrade deletes nothing)
and an index on the time column of each pruned table, which the pruning job walks oldest
first in bounded batches.

Revision ID: 0011
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ("raw_events_retention_days", "page_views_retention_days", "sessions_retention_days")
INDEXES = (
    ("ix_ami_events_received_at", "ami_events", "received_at"),
    ("ix_page_views_viewed_at", "page_views", "viewed_at"),
    ("ix_sessions_started_at", "sessions", "started_at"),
)


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=True))
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("sites") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
