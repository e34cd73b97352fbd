"""Cover the leaderboard window with an index.

Revision ID: 0003
Revises: 0002

The weekly and monthly leaderboards count likes per post author over a time window; with the
author in the index the count reads the index alone instead of every like row of the window.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("post_like", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_like_community_id_created_at"))
        batch_op.create_index(
            batch_op.f("ix_post_like_community_id_created_at_post_author_id"),
            ["community_id", "created_at", "post_author_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("post_like", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_like_community_id_created_at_post_author_id"))
        batch_op.create_index(
            batch_op.f("ix_post_like_community_id_created_at"), ["community_id", "created_at"], unique=False
        )
