"""Drop the index on members' message counts: no query reads it, and every reply wrote it.

Revision ID: 0005
Revises: 0004

Every counted reply moves its author's `message_count`, so the index was rewritten thousands of
times per ingest batch (on PostgreSQL it also kept those updates from being heap-only), and
nothing orders or filters members by that count: cards read it by member id.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_community_id_message_count"))


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_community_id_message_count"),
            ["community_id", "message_count"],
            unique=False,
        )
