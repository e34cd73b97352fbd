"""Pile-on detection: the hostile messages in the window, the alerts, and the `pile_on` case category.

Revision ID: 0010
Revises: 0009

`pileon_hit` keeps each hostile message aimed at a member for as long as the detection window
lasts, so a restart neither forgets a pile-on under way nor alerts twice; `pileon_alert` keeps one
row per alert (target, thread, window) with its case and whether a moderator dismissed it. Cases
gain the category `pile_on`, which the bot opens itself (members cannot report with it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatbridge.store.types import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REPORTED = "'harassment', 'misinformation', 'patient_privacy', 'spam', 'other'"
_PLATFORMS = "platform IN ('discord', 'matrix', 'memory')"


def _category_check(batch_op: object, allowed: str) -> None:
    batch_op.drop_constraint(op.f("ck_mod_case_category"), type_="check")  # type: ignore[attr-defined]
    batch_op.create_check_constraint("category", f"category IN ({allowed})")  # type: ignore[attr-defined]


def upgrade() -> None:
    with op.batch_alter_table("mod_case", schema=None) as batch_op:
        _category_check(batch_op, f"{_REPORTED}, 'pile_on'")
    op.create_table(
        "pileon_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("target_member_id", sa.Integer(), nullable=False),
        sa.Column("author_member_id", sa.Integer(), nullable=False),
        sa.Column("thread_key", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("thread_id", sa.String(length=255), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.CheckConstraint(_PLATFORMS, name=op.f("ck_pileon_hit_platform")),
        sa.ForeignKeyConstraint(
            ["author_member_id"],
            ["member.id"],
            name=op.f("fk_pileon_hit_author_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_pileon_hit_community_id_community"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_member_id"],
            ["member.id"],
            name=op.f("fk_pileon_hit_target_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pileon_hit")),
        sa.UniqueConstraint(
            "platform",
            "message_id",
            "target_member_id",
            name=op.f("uq_pileon_hit_platform_message_id_target_member_id"),
        ),
    )
    with op.batch_alter_table("pileon_hit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pileon_hit_author_member_id"), ["author_member_id"], unique=False
        )
        batch_op.create_index(
            "ix_pileon_hit_target",
            ["community_id", "target_member_id", "thread_key", "at"],
            unique=False,
        )
    op.create_table(
        "pileon_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("target_member_id", sa.Integer(), nullable=False),
        sa.Column("thread_key", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("thread_id", sa.String(length=255), nullable=True),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("alerted_at", UTCDateTime(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("dismissed_at", UTCDateTime(), nullable=True),
        sa.Column("pace_seconds", sa.Integer(), nullable=True),
        sa.CheckConstraint(_PLATFORMS, name=op.f("ck_pileon_alert_platform")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_case.id"], name=op.f("fk_pileon_alert_case_id_mod_case"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_pileon_alert_community_id_community"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_member_id"],
            ["member.id"],
            name=op.f("fk_pileon_alert_target_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pileon_alert")),
    )
    with op.batch_alter_table("pileon_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pileon_alert_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pileon_alert_community_id_dismissed_at"),
            ["community_id", "dismissed_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_pileon_alert_target",
            ["community_id", "target_member_id", "thread_key", "alerted_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("pileon_alert")
    op.drop_table("pileon_hit")
    op.execute(sa.text("DELETE FROM mod_case WHERE category = 'pile_on'"))
    with op.batch_alter_table("mod_case", schema=None) as batch_op:
        _category_check(batch_op, _REPORTED)
