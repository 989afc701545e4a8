"""calls.end_estimated and calls.end_reason: how a call's end time is known

``end_reason`` is NULL when callpool saw the call end (its hangups arrived over AMI);
otherwise it says why it did not (``cdr``, ``pbx_lost``, ``listener_down``, ``stale``:
see asterisk/README.md). ``end_estimated`` is true when the end time is callpool's
estimate rather than the PBX's. Existing rows were all ended by their events.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(
            sa.Column("end_estimated", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("end_reason", sa.String(length=16), nullable=True))
    with op.batch_alter_table("calls") as batch_op:
        batch_op.alter_column("end_estimated", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_column("end_reason")
        batch_op.drop_column("end_estimated")
