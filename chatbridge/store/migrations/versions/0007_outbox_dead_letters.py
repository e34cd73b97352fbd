"""Outbox dead letters: when an item was set aside, and why.

Revision ID: 0007
Revises: 0006

An outbox item that the platform refuses for good (a deleted channel, a 403), or that keeps
failing past `outbox.max_attempts`, is set aside instead of being retried forever: `dead_at` says
when, `dead_reason` the platform's error summary (never member text). The worker skips such rows
until an admin runs `chatbridge outbox retry` (which clears both) or `drop`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatbridge.store.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dead_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("dead_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_item", schema=None) as batch_op:
        batch_op.drop_column("dead_reason")
        batch_op.drop_column("dead_at")
