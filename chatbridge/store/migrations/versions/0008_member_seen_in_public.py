"""Remember whether a member has been seen in a public room, for what public digests may name.

Revision ID: 0008
Revises: 0007

A member seen only in private sub-forums (a staff room) must not be welcomed by name or have
their trophies listed in a digest posted for everyone. A join marks the member when it happens
in a public room; posts and likes in public sub-forums are read from the posts themselves.
Existing members are marked unless every post they wrote is in a private sub-forum: until now
they were all treated as public, and that is the only evidence the store kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MEMBER = sa.table("member", sa.column("id"), sa.column("seen_in_public", sa.Boolean()))
_POST = sa.table("post", sa.column("member_id"), sa.column("thread_id"))
_THREAD = sa.table("thread", sa.column("id"), sa.column("subforum_id"))
_SUBFORUM = sa.table("subforum", sa.column("id"), sa.column("private", sa.Boolean()))


def _posts_in(private: bool) -> sa.Exists:
    return sa.exists().where(
        _POST.c.member_id == _MEMBER.c.id,
        _THREAD.c.id == _POST.c.thread_id,
        _SUBFORUM.c.id == _THREAD.c.subforum_id,
        _SUBFORUM.c.private == sa.literal(private),
    )


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("seen_in_public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    only_private = sa.and_(_posts_in(True), sa.not_(_posts_in(False)))
    op.execute(_MEMBER.update().where(sa.not_(only_private)).values(seen_in_public=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("seen_in_public")
