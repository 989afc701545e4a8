"""tracking_numbers.leased_until: the open lease's expiry on the number row

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import callpool.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracking_numbers") as batch_op:
        batch_op.add_column(
            sa.Column("leased_until", callpool.db.types.UtcDateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE tracking_numbers SET leased_until = (SELECT max(expires_at) FROM leases "
        "WHERE leases.number_id = tracking_numbers.id AND leases.released_at IS NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("tracking_numbers") as batch_op:
        batch_op.drop_column("leased_until")
