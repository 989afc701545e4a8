"""Call recordings: the recordings of each call, the audit log of plays, per-site rules

``call_recordings`` holds each call's recording files, keyed like the call by
(pbx, linkedid) and the file's name; ``recording_access`` logs every play and download.
``sites`` gains whether recording links are shown at all and to viewers, and the
retention (days, or only target calls' files kept). Existing sites keep links on and
keep every file.

Revision ID: 0017
Revises: 0009
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callpool.db.types import UtcDateTime

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch_op:
        batch_op.add_column(
            sa.Column("recordings_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column(
                "recordings_for_viewers", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch_op.add_column(sa.Column("recording_retention_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "recording_keep_target_only",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    with op.batch_alter_table("sites") as batch_op:
        batch_op.alter_column("recordings_enabled", server_default=None)
        batch_op.alter_column("recordings_for_viewers", server_default=None)
        batch_op.alter_column("recording_keep_target_only", server_default=None)
    op.create_table(
        "call_recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pbx", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("found_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'present', 'missing', 'deleted')",
            name="ck_call_recordings_state_known",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_recordings"),
        sa.UniqueConstraint("pbx", "linkedid", "name", name="uq_call_recordings_pbx_key"),
    )
    op.create_index("ix_call_recordings_pbx_linkedid", "call_recordings", ["pbx", "linkedid"])
    op.create_index("ix_call_recordings_state", "call_recordings", ["state"])
    op.create_table(
        "recording_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "action IN ('play', 'download')", name="ck_recording_access_action_known"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_recording_access_user_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_recording_access"),
    )
    op.create_index("ix_recording_access_at", "recording_access", ["at"])
    op.create_index("ix_recording_access_recording_id", "recording_access", ["recording_id"])


def downgrade() -> None:
    op.drop_table("recording_access")
    op.drop_table("call_recordings")
    with op.batch_alter_table("sites") as batch_op:
        batch_op.drop_column("recording_keep_target_only")
        batch_op.drop_column("recording_retention_days")
        batch_op.drop_column("recordings_for_viewers")
        batch_op.drop_column("recordings_enabled")
