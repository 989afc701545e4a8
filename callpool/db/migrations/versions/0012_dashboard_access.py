"""Dashboard access: site membership, log-in sessions, the user's language, masked callers

``users.all_sites`` keeps every existing user seeing every site (what they saw before);
a user granted only some sites has ``all_sites`` false and one ``user_sites`` row per
site. ``sites.mask_callers`` hides callers' numbers from viewers. ``web_sessions`` holds
the dashboard's server-side sessions (a hash of the cookie).

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callpool.db.types import UtcDateTime

revision = "0012"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch_op:
        batch_op.add_column(
            sa.Column("mask_callers", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("sites") as batch_op:
        batch_op.alter_column("mask_callers", server_default=None)
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("all_sites", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("locale", sa.String(length=8), nullable=True))
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("all_sites", server_default=None)
    op.create_table(
        "user_sites",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_sites_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_user_sites_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "site_id", name="pk_user_sites"),
    )
    op.create_index("ix_user_sites_site_id", "user_sites", ["site_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_web_sessions_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_web_sessions_token_hash"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_table("user_sites")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("locale")
        batch_op.drop_column("all_sites")
    with op.batch_alter_table("sites") as batch_op:
        batch_op.drop_column("mask_callers")
