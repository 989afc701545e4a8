"""ix_tracking_numbers_pick: the pool pick in one index probe

A partial index of the numbers free to hand out, in pick order (campaign, last release,
E.164). ``leased_until`` becomes NULL exactly when no lease is open: until now releasing
a lease left it set, so it is cleared here for every number without an open lease.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE tracking_numbers SET leased_until = NULL WHERE leased_until IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM leases WHERE leases.number_id = tracking_numbers.id "
        "AND leases.released_at IS NULL)"
    )
    op.create_index(
        "ix_tracking_numbers_pick",
        "tracking_numbers",
        ["campaign_id", "last_released_at", "e164"],
        sqlite_where=sa.text(
            "channel_id IS NULL AND active = 1 AND retiring = 0 AND leased_until IS NULL"
        ),
        postgresql_where=sa.text(
            "channel_id IS NULL AND active AND NOT retiring AND leased_until IS NULL"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_tracking_numbers_pick", table_name="tracking_numbers")
