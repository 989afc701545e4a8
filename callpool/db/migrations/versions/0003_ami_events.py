"""raw AMI events, and the visitor a call was credited to

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import callpool.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ami_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pbx", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("received_at", callpool.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=True),
        sa.Column("frame", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ami_events")),
        sa.UniqueConstraint("pbx", "seq", name="uq_ami_events_pbx_seq"),
    )
    with op.batch_alter_table("ami_events") as batch_op:
        batch_op.create_index("ix_ami_events_pbx_linkedid", ["pbx", "linkedid"], unique=False)
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(sa.Column("visitor_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_column("visitor_id")
    with op.batch_alter_table("ami_events") as batch_op:
        batch_op.drop_index("ix_ami_events_pbx_linkedid")
    op.drop_table("ami_events")
