"""Index posts by thread and member.

Revision ID: 0002
Revises: 0001

The ingest batch path asks, for every reply, whether its author has posted in that thread before
(to count distinct participants); without this index that lookup scans the thread's posts.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_post_thread_id_member_id"), ["thread_id", "member_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_thread_id_member_id"))
