"""ix_calls_caller_number_campaign_id_started_at: a number's earlier calls in a campaign

The roll-up of a day asks, for each of the day's callers, their latest earlier call in
the campaign (is this call first-time?). On ``(caller_number, started_at)`` that reads
every earlier call of the number, to every campaign, and drops most of them: frequent
callers call many campaigns. This index reads only the campaign's (and, with
``campaign_id IS NULL``, the site's main line's).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_calls_caller_number_campaign_id_started_at",
        "calls",
        ["caller_number", "campaign_id", "started_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_calls_caller_number_campaign_id_started_at", table_name="calls")
