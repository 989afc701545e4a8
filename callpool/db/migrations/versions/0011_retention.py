"""Retention: per-site days to keep raw AMI events, page views and sessions

Three nullable columns on ``sites`` (NULL keeps forever, so an upgrade deletes nothing)
and an index on (time, id) of each pruned table, along which the pruning job walks
oldest first in bounded batches, keyset by (time, id).

Revision ID: 0011
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("raw_events_retention_days", "page_views_retention_days", "sessions_retention_days")
INDEXES = (
    ("ix_ami_events_received_at_id", "ami_events", ["received_at", "id"]),
    ("ix_page_views_viewed_at_id", "page_views", ["viewed_at", "id"]),
    ("ix_sessions_started_at_id", "sessions", ["started_at", "id"]),
)


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=True))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("sites") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
