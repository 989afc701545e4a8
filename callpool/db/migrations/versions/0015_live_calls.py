"""live_calls: calls in progress, published by the AMI listener for the live page;
login_failures: failed dashboard log-ins, counted by every process

Revision ID: 0015
Revises: 0018
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import callpool.db.types

revision = "0015"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_calls",
        sa.Column("pbx", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("caller_number", sa.String(length=32), nullable=False),
        sa.Column("dialled_number", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column("started_at", callpool.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", callpool.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", callpool.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "linkedid", name=op.f("pk_live_calls")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failed_at", callpool.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.create_index("ix_login_failures_key_failed_at", ["key", "failed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.drop_index("ix_login_failures_key_failed_at")
    op.drop_table("login_failures")
    op.drop_table("live_calls")
