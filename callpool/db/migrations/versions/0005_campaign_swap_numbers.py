"""campaigns.swap_numbers: which of the site's own numbers a campaign replaces

An empty list means all of them, which is what every campaign did before, so existing
rows get ``[]``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.add_column(
            sa.Column("swap_numbers", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.alter_column("swap_numbers", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.drop_column("swap_numbers")
