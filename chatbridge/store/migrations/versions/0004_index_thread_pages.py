"""Index thread pages: pinned first, then by latest activity.

Revision ID: 0004
Revises: 0003

A sub-forum's page reads its pinned threads and then its other threads in order; with `pinned` in
the index both reads seek straight to their rows instead of filtering the whole sub-forum.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("thread", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_thread_subforum_id_pinned_last_activity_at"),
            ["subforum_id", "pinned", "last_activity_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("thread", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_subforum_id_pinned_last_activity_at"))
